//! Opening a vault, and reading and writing its sealed objects.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::backend::{Backend, ObjectKind};
use crate::crypto::MasterKey;
use crate::error::{Error, Result, StorageError};
use crate::id::Id;
use crate::index::{Index, IndexFile};
use crate::keys::{self, KdfParams, Secret};
use crate::pack;
use crate::snapshot::{Snapshot, SnapshotFilter};
use crate::tree::Tree;

/// Readable snapshots (oldest first) and the errors of damaged ones.
pub type SnapshotsAndDamage = (Vec<(Id, Snapshot)>, Vec<Error>);

/// The vault format version this build writes and reads (it reads every
/// earlier one too). Version 2 added key epochs (sealed scheme 2, keyrings
/// under `epochs/`, slots that name their epoch); a version-1 vault becomes
/// version 2 at its first key rotation.
pub const FORMAT_VERSION: u32 = 2;

/// Content-defined chunking parameters (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkerParams {
    /// Smallest chunk.
    pub min: u32,
    /// Average chunk.
    pub avg: u32,
    /// Largest chunk.
    pub max: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min: 512 * 1024,
            avg: 1024 * 1024,
            // Four times the average, as casync does: a cut is forced only in
            // data without cut points (long runs of a repeating pattern), and
            // one chunk must be in memory whole per thread to be sealed.
            max: 4 * 1024 * 1024,
        }
    }
}

/// The plaintext `config` object: what is needed before a key is known.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Always `coffer-vault`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Random vault id (hex); binds key slots to this vault.
    pub id: String,
    /// When the vault was made (RFC 3339).
    pub created: String,
    /// Chunker parameters (the chunker's gear table is keyed by the master key).
    pub chunker: ChunkerParams,
}

/// Options of [`Vault::init`].
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Chunker parameters; default 512 KiB / 1 MiB / 4 MiB.
    pub chunker: ChunkerParams,
    /// Argon2id parameters for a password slot.
    pub kdf: Option<KdfParams>,
    /// Label of the first key slot.
    pub label: String,
}

/// An open vault: storage plus the master key.
#[derive(Clone)]
pub struct Vault {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    config: VaultConfig,
    slot: Id,
    /// Key slots skipped when the vault was opened (damaged, or with
    /// Argon2id parameters out of bounds), for front ends to warn about.
    skipped_slots: Arc<Vec<keys::SlotProblem>>,
    /// The newest key epoch any slot had when the vault was opened; above
    /// the key's own when the key is of an older epoch, which must not write.
    newest_generation: u32,
    tree_packs: Arc<PackCache>,
}

/// A vault's current key epoch, as its key knows it.
#[derive(Debug, Clone, Serialize)]
pub struct EpochInfo {
    /// 0 until the first rotation, one more for each.
    pub generation: u32,
    /// When the epoch began (RFC 3339): the rotation's time, or for epoch 0
    /// the vault's creation.
    pub created: String,
}

/// Gives freed heap memory back to the system. Decoding index objects on
/// several threads leaves megabytes of freed blocks in each thread's malloc
/// arena, scattered between live ones, which glibc keeps otherwise (about
/// 10 bytes per indexed chunk at 2 million chunks).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where blob `id` (a `what`, for messages) is: its location, pack and the
/// pack's object path.
fn locate(index: &Index, id: &Id, what: &str) -> Result<(crate::index::Location, Id, String)> {
    let loc = index.lookup(id).ok_or_else(|| Error::NotFound {
        what: format!("{what} {id}"),
        hint: " in the index: the vault is missing data; run `coffer check`".into(),
    })?;
    let pack_id = index.pack(loc.pack);
    Ok((loc, pack_id, ObjectKind::Pack.path(&pack_id)))
}

/// Whole tree packs, kept after a tree blob was read from them: walking a
/// snapshot reads every directory's tree, and those sit side by side in a
/// few packs, so one read per pack replaces one ranged read per directory.
/// Least recently used packs go first once [`PackCache::BUDGET`] is passed.
#[derive(Default)]
struct PackCache {
    packs: std::sync::Mutex<Vec<(Id, Arc<Vec<u8>>)>>,
}

impl PackCache {
    /// Bytes of packs kept at most (a pack larger than this is not kept).
    const BUDGET: usize = 32 << 20;

    fn get(&self, id: &Id) -> Option<Arc<Vec<u8>>> {
        let mut v = self.packs.lock().unwrap();
        let i = v.iter().position(|(p, _)| p == id)?;
        let e = v.remove(i);
        let bytes = e.1.clone();
        v.push(e);
        Some(bytes)
    }

    fn put(&self, id: Id, bytes: Arc<Vec<u8>>) {
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

const CONFIG: &str = "config";

/// The prefixes of the objects that hold a vault's data, cheapest to list
/// first (packs, the many, last). `keys/` is not among them: an init that is
/// interrupted between its key slot and `config` leaves an orphan slot and
/// nothing else, and a new init over it loses nothing.
const DATA_PREFIXES: &[&str] = &[
    "snapshots/",
    "index/",
    "locks/",
    "holds/",
    "sessions/",
    "prune/",
    crate::copy::COPYMAP_PREFIX,
    "wal/",
    "epochs/",
    "packs/",
];

/// The error for a location whose `config` is gone while `found` (a vault
/// object) is still there: what is missing, and how to get it back.
fn config_lost(location: &str, found: &str) -> Error {
    Error::Damaged {
        object: format!("{location}/{CONFIG}"),
        detail: format!(
            "the vault's `config` object is missing, but the location still holds vault objects ({found} …), \
             so coffer will neither open it nor create a new vault over it (a new vault would have another id and \
             key, and could read none of the old snapshots). Put `config` back from a backup or an earlier version \
             of this location (S3 versioning, a file system snapshot, an rsync or `aws s3 sync` copy of it), or \
             write it again if you know the vault's id (docs/format.md, \"Objects a vault cannot live without\"), or \
             restore from a copy of the vault made with `coffer copy`; to start afresh, choose an empty location"
        ),
    }
}

impl Vault {
    /// Whether `backend` holds a vault (its `config` exists).
    pub fn exists(backend: &dyn Backend) -> Result<bool> {
        backend.exists(CONFIG).map_err(|source| Error::Storage {
            location: backend.location(),
            source,
        })
    }

    /// The first vault data object found at `backend` (one under
    /// [`DATA_PREFIXES`] with a vault object's name), if any.
    fn first_data_object(backend: &dyn Backend) -> Result<Option<String>> {
        for prefix in DATA_PREFIXES {
            let listed = backend.list(prefix).map_err(|source| Error::Storage {
                location: backend.location(),
                source,
            })?;
            // Only names a vault writes (hex) count, so a directory that
            // merely has, say, an `index/` folder of its own is no vault.
            let found = listed.into_iter().find(|o| {
                let name = o.path.rsplit('/').next().unwrap_or("");
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
            });
            if let Some(o) = found {
                return Ok(Some(o.path));
            }
        }
        Ok(None)
    }

    /// Checks that `backend` may be initialized: it holds no `config` and no
    /// vault data objects (a vault whose `config` was lost is never
    /// initialized again, see [`Vault::init`]). Front ends call this before
    /// they prepare anything (a new key file) for an init.
    pub fn check_can_init(backend: &dyn Backend) -> Result<()> {
        if Self::exists(backend)? {
            return Err(Error::AlreadyExists {
                what: format!("a vault at {}", backend.location()),
                hint: ": init refuses to touch it; use it as it is or choose another location"
                    .into(),
            });
        }
        match Self::first_data_object(backend)? {
            Some(found) => Err(config_lost(&backend.location(), &found)),
            None => Ok(()),
        }
    }

    /// Creates a vault with one key slot for `secret`. Refuses if one exists,
    /// and refuses a location that holds vault objects without a `config`
    /// (one that lost it): the one check every front end's init goes
    /// through.
    pub fn init(backend: Arc<dyn Backend>, secret: &Secret, opts: &InitOptions) -> Result<Vault> {
        Self::check_can_init(backend.as_ref())?;
        let config = VaultConfig {
            format: "coffer-vault".into(),
            version: FORMAT_VERSION,
            id: hex::encode(crate::crypto::random_bytes::<16>()),
            created: jiff::Timestamp::now().to_string(),
            chunker: opts.chunker,
        };
        let key = MasterKey::generate();
        // The slot first: a vault whose config exists always has a key.
        let slot = keys::add_slot(
            backend.as_ref(),
            &config.id,
            &key,
            secret,
            &opts.label,
            opts.kdf,
        )?;
        let body = serde_json::to_vec_pretty(&config).expect("serializable");
        backend
            .write(CONFIG, body)
            .map_err(|source| Error::Storage {
                location: backend.location(),
                source,
            })?;
        Ok(Vault {
            backend,
            key,
            config,
            slot,
            skipped_slots: Arc::default(),
            newest_generation: 0,
            tree_packs: Arc::default(),
        })
    }

    /// Opens an existing vault with `secret`.
    pub fn open(backend: Arc<dyn Backend>, secret: &Secret) -> Result<Vault> {
        let config = Self::read_config(backend.as_ref())?;
        let opened = keys::open(backend.as_ref(), &config.id, secret)?;
        for p in &opened.skipped {
            tracing::warn!("vault {}: {p}", backend.location());
        }
        let vault = Vault {
            backend,
            key: opened.key,
            config,
            slot: opened.slot,
            skipped_slots: Arc::new(opened.skipped),
            newest_generation: opened.newest_generation,
            tree_packs: Arc::default(),
        };
        // An unreadable lock makes writes fail with the reason; reads go on.
        let _ = vault.apply_store_lock();
        Ok(vault)
    }

    /// Reads the plaintext config.
    pub fn read_config(backend: &dyn Backend) -> Result<VaultConfig> {
        let body = match backend.read(CONFIG) {
            Ok(b) => b,
            Err(source) if source.not_found => {
                return Err(Self::missing(backend)?);
            }
            Err(source) => {
                return Err(Error::Storage {
                    location: backend.location(),
                    source,
                })
            }
        };
        let config: VaultConfig = serde_json::from_slice(&body)
            .map_err(|e| Error::damaged(CONFIG, format!("does not parse: {e}")))?;
        if config.format != "coffer-vault" {
            return Err(Error::damaged(CONFIG, "not a coffer vault config"));
        }
        let c = config.chunker;
        let sane = |v: u32, lo: u32, hi: u32| (lo..=hi).contains(&v);
        if !(sane(c.min, 64, 1 << 26)
            && sane(c.avg, 256, 1 << 28)
            && sane(c.max, 1024, 1 << 28)
            && c.min <= c.avg
            && c.avg <= c.max)
        {
            return Err(Error::damaged(
                CONFIG,
                "chunker parameters are out of range",
            ));
        }
        if config.version > FORMAT_VERSION {
            return Err(Error::InvalidInput(format!(
                "vault at {} has format version {}; this coffer reads up to {FORMAT_VERSION}: upgrade coffer",
                backend.location(),
                config.version
            )));
        }
        Ok(config)
    }

    /// The error for a location without `config`: "no vault here" when it
    /// is empty, or (it holds vault objects) that the vault lost its
    /// `config` and how to get it back. Fails only if listing fails.
    pub fn missing(backend: &dyn Backend) -> Result<Error> {
        Ok(match Self::first_data_object(backend)? {
            Some(found) => config_lost(&backend.location(), &found),
            None => Error::NotFound {
                what: format!("vault at {}", backend.location()),
                hint: ": create it with `coffer init` or check --vault".into(),
            },
        })
    }

    /// The storage.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The config.
    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The key slot that opened the vault.
    pub fn slot(&self) -> Id {
        self.slot
    }

    /// The key slots skipped when the vault was opened: damaged ones, and
    /// ones whose Argon2id parameters are out of bounds. The vault opened
    /// with another slot; front ends show these as warnings.
    pub fn skipped_slots(&self) -> &[keys::SlotProblem] {
        &self.skipped_slots
    }

    /// The key epoch this vault's key writes under.
    pub fn epoch(&self) -> EpochInfo {
        let e = self.key.current();
        EpochInfo {
            generation: e.generation,
            created: if e.generation == 0 {
                self.config.created.clone()
            } else {
                e.created.clone()
            },
        }
    }

    /// Fails when this vault was opened by a key slot of an older key epoch
    /// than its newest slots (a rotation stopped before it removed the old
    /// slots, or a revoked slot was put back): such a key may read what it
    /// can, but never writes, so nothing new is sealed under a revoked
    /// epoch. Every writer checks this before it writes.
    pub fn check_current_epoch(&self) -> Result<()> {
        let ours = self.key.generation();
        if self.newest_generation <= ours {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "vault {}: key slot {} is of key epoch {ours}, but the vault was rotated to epoch {}: \
             a key of an older epoch may read what was written under it but never writes. Open the \
             vault with a key of the current epoch (`coffer key list` marks the epoch of each slot)",
            self.backend.location(),
            self.slot.short(),
            self.newest_generation
        )))
    }

    /// Rewrites `config` with [`FORMAT_VERSION`] when it is older; returns
    /// whether it did. The one rewrite of an object the format allows: a
    /// version-1 vault's `config` at its first key rotation, after the new
    /// keyring is stored and before any slot or data of the new epoch, so
    /// that a coffer that reads only version 1 refuses the vault instead of
    /// misreading it.
    pub(crate) fn upgrade_format(&self) -> Result<bool> {
        if self.config.version >= FORMAT_VERSION {
            return Ok(false);
        }
        let mut config = self.config.clone();
        config.version = FORMAT_VERSION;
        let body = serde_json::to_vec_pretty(&config).expect("serializable");
        self.backend
            .write(CONFIG, body)
            .map_err(|e| self.storage_err(e))?;
        Ok(true)
    }

    /// Adds a key slot for `secret`, of the current key epoch (an older
    /// epoch's key adds none: it would unlock a revoked epoch).
    pub fn add_key(&self, secret: &Secret, label: &str, kdf: Option<KdfParams>) -> Result<Id> {
        self.check_current_epoch()?;
        keys::add_slot(
            self.backend.as_ref(),
            &self.config.id,
            &self.key,
            secret,
            label,
            kdf,
        )
    }

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
        let (plans, bad_plans) = crate::prune::list_plans(self)?;
        if strict_plans {
            if let Some(e) = bad_plans.into_iter().next() {
                return Err(e);
            }
        }
        let condemned = crate::prune::condemned_packs(&plans);
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

    /// Reads a blob through the index and verifies it.
    pub fn read_blob(&self, index: &Index, id: &Id) -> Result<Vec<u8>> {
        let (loc, _, path) = locate(index, id, "blob")?;
        self.read_located(id, loc, &path)
    }

    /// Reads blob `id` at `loc` in pack object `path` with one ranged read,
    /// and verifies it.
    fn read_located(&self, id: &Id, loc: crate::index::Location, path: &str) -> Result<Vec<u8>> {
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
    ) -> Result<Option<crate::tree::Node>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::Mem;

    fn secret() -> Secret {
        Secret::KeyFile([7; 32])
    }

    #[test]
    fn a_location_that_lost_its_config_is_never_initialized_again() {
        let b: Arc<dyn Backend> = Arc::new(Mem::default());
        let v = Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
        v.save_object(ObjectKind::Snapshot, b"{}").unwrap();
        b.delete(CONFIG).unwrap();
        let keys_before = b.list("keys/").unwrap().len();
        for e in [
            Vault::init(b.clone(), &secret(), &InitOptions::default())
                .err()
                .unwrap(),
            Vault::open(b.clone(), &secret()).err().unwrap(),
            Vault::check_can_init(b.as_ref()).unwrap_err(),
        ] {
            assert_eq!(e.kind(), crate::ErrorKind::Damaged, "{e}");
            let m = e.to_string();
            assert!(
                m.contains("`config` object is missing") && m.contains("snapshots/"),
                "{m}"
            );
        }
        assert!(!Vault::exists(b.as_ref()).unwrap());
        assert_eq!(b.list("keys/").unwrap().len(), keys_before);
    }

    #[test]
    fn an_interrupted_init_or_an_empty_location_can_be_initialized() {
        let b: Arc<dyn Backend> = Arc::new(Mem::default());
        let e = Vault::open(b.clone(), &secret()).err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound, "{e}");
        // An init that stopped after its key slot left only that slot.
        let v = Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
        b.delete(CONFIG).unwrap();
        drop(v);
        Vault::init(b.clone(), &secret(), &InitOptions::default()).unwrap();
        Vault::open(b.clone(), &secret()).unwrap();
        // Files a vault does not name its objects like are no vault.
        let c: Arc<dyn Backend> = Arc::new(Mem::default());
        c.write("index/index.html", b"<html>".to_vec()).unwrap();
        Vault::init(c, &secret(), &InitOptions::default()).unwrap();
    }
}
