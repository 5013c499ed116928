//! The storage interface a vault is written through.
//!
//! Backends store opaque, write-once objects under slash-separated paths.
//! The vault never overwrites or renames an object: every object's name is
//! either the keyed hash of its bytes or random, so a second write to the same
//! name would carry the same bytes. (Archived WAL files are named after their
//! encrypted file name; see [`crate::wal`] for how a rewrite is refused.)

use crate::error::StorageError;
use crate::format::id::Id;
use crate::format::lock::vault_lock::LockMode;

/// Store-enforced retention of one object (S3 Object Lock): the store
/// refuses to delete or overwrite the object's version before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRetention {
    /// GOVERNANCE (an admin with the bypass permission can delete) or
    /// COMPLIANCE (nobody can).
    pub mode: LockMode,
    /// Retain until this time.
    pub until: jiff::Timestamp,
}

/// The retention a backend gives every object it writes, set from the vault
/// lock when the vault is opened (see [`crate::lock`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteRetention {
    /// Objects are written without store retention.
    #[default]
    None,
    /// Every object is written with this mode and a retain-until date of
    /// its write time plus `days` (plus [`crate::lock::RETENTION_SLACK_DAYS`]).
    Lock {
        /// The mode.
        mode: LockMode,
        /// Days from the write.
        days: u32,
    },
    /// The vault lock could not be read: writes fail with this message
    /// rather than store objects that might need retention without it.
    Unknown(String),
}

/// What [`Backend::ensure_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionStats {
    /// Objects looked at.
    pub objects: usize,
    /// Objects whose retention was set or extended.
    pub extended: usize,
    /// Objects that already had the retention asked for.
    pub unchanged: usize,
    /// Objects that do not exist (paths).
    pub missing: Vec<String>,
}

/// The operation ([`StorageError::op`]) of the error
/// [`Backend::ensure_thawed`] fails with, which a restore tells apart from
/// a failed read: it fails before anything is written.
pub const THAW_CHECK: &str = "thaw check";

/// How fast (and at what price) an archive store restores (thaws) an
/// object: S3 RestoreObject's `Tier`. Expedited takes minutes (GLACIER
/// only), Standard hours (S3's default), Bulk the most hours for the least
/// money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum ThawTier {
    /// Minutes; GLACIER only (DEEP_ARCHIVE refuses it).
    Expedited,
    /// 3-5 hours on GLACIER, up to 12 on DEEP_ARCHIVE.
    #[default]
    Standard,
    /// 5-12 hours on GLACIER, up to 48 on DEEP_ARCHIVE.
    Bulk,
}

impl ThawTier {
    /// Every tier, for messages.
    pub const ALL: [ThawTier; 3] = [ThawTier::Expedited, ThawTier::Standard, ThawTier::Bulk];

    /// The name S3 uses (`Expedited`, `Standard`, `Bulk`).
    pub fn as_str(self) -> &'static str {
        match self {
            ThawTier::Expedited => "Expedited",
            ThawTier::Standard => "Standard",
            ThawTier::Bulk => "Bulk",
        }
    }

    /// Parses a tier name, ignoring case; the error lists the tiers.
    pub fn parse(s: &str) -> Result<ThawTier, String> {
        ThawTier::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown thaw tier `{s}`: give Expedited (minutes), Standard (hours) or Bulk (cheapest, up to 48 hours)")
            })
    }
}

impl std::fmt::Display for ThawTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether one object can be read now, as [`Backend::thaw_state`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThawState {
    /// Readable: not in an archive class, or missing (a missing object is
    /// the restore's to report).
    Readable,
    /// In an archive class, and no restore (thaw) was asked for (or the
    /// thawed copy expired).
    Frozen,
    /// A restore was asked for and is under way (`ongoing-request="true"`).
    Thawing,
    /// Restored: a readable copy exists until `until` (when the store says).
    Thawed {
        /// When the thawed copy expires.
        until: Option<jiff::Timestamp>,
    },
}

impl ThawState {
    /// Whether the object can be read now.
    pub fn readable(self) -> bool {
        matches!(self, ThawState::Readable | ThawState::Thawed { .. })
    }
}

/// What [`Backend::request_thaw`] did, one count per object asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ThawStats {
    /// Objects asked about.
    pub objects: usize,
    /// Restores (thaws) requested by this call.
    pub requested: usize,
    /// Restores requested earlier and still under way (not requested again).
    pub in_progress: usize,
    /// Objects readable now (never frozen, or thawed).
    pub ready: usize,
}

/// Whether objects of S3 storage class `class` must be restored (thawed)
/// before they can be read: GLACIER (Flexible Retrieval) and DEEP_ARCHIVE.
/// GLACIER_IR reads at once.
pub fn is_archive_class(class: &str) -> bool {
    class.eq_ignore_ascii_case("GLACIER") || class.eq_ignore_ascii_case("DEEP_ARCHIVE")
}

/// An object as listed by a backend.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Path inside the vault, e.g. `packs/ab/ab12…`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// An object as listed with the storage class the store keeps it in
/// ([`Backend::list_classes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassedObject {
    /// Path inside the vault.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's storage class (S3: `STANDARD`, `GLACIER`, …); `None`
    /// for a store without storage classes (a local directory).
    pub class: Option<String>,
}

/// An object whose bytes are handed over before its name is known (see
/// [`Backend::stage`]). Dropped without [`Staged::commit`], it leaves no
/// object behind.
pub trait Staged: Send {
    /// Appends bytes to the object.
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError>;
    /// Stores the bytes appended so far as object `path`, durably, as
    /// [`Backend::write`] would. An object already stored under that name
    /// is kept (it holds the same bytes: names are hashes of content).
    fn commit(self: Box<Self>, path: &str) -> Result<(), StorageError>;
}

/// Synchronous object storage. Implementations must be safe to call from many
/// threads at once, and must not block a tokio worker thread (the S3 backend
/// runs its own runtime and is called from plain threads).
pub trait Backend: Send + Sync {
    /// A human-readable location for messages (`/srv/vault`, `s3://bucket/prefix`).
    fn location(&self) -> String;
    /// Stores an object durably. Returns only once the object would survive a
    /// crash of this process (and, for local disks, of the machine).
    fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError>;
    /// Stores a pack that holds data blobs only (file and stream content),
    /// as [`Backend::write`] does. Only a restore (and `check --read-data`)
    /// reads such packs, so a store with storage tiers puts them in the
    /// vault's storage class (S3 `?storage_class=`, which may be an archive
    /// class such as GLACIER); every other object (config, key slots,
    /// index, snapshots, tree packs, locks, ...) goes through
    /// [`Backend::write`] in a class that reads at once. The default is
    /// [`Backend::write`].
    fn write_data_pack(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.write(path, data)
    }
    /// The storage class [`Backend::write_data_pack`] writes in (S3
    /// `?storage_class=`, e.g. `GLACIER_IR`), `None` for the store's
    /// default. Prune reads it to respect the class's minimum storage
    /// duration (`coffer_core::prune::cost`).
    fn data_pack_class(&self) -> Option<String> {
        None
    }
    /// Fails when some of `paths` cannot be read until they are restored
    /// (thawed) from an archive storage class (S3 GLACIER, DEEP_ARCHIVE),
    /// with an error of kind [`crate::error::StorageErrorKind::Archived`]
    /// whose message names them and how to thaw them. Asked before a
    /// restore writes anything. The default (a store without archive
    /// classes): everything is readable.
    fn ensure_thawed(&self, paths: &[String]) -> Result<(), StorageError> {
        let _ = paths;
        Ok(())
    }
    /// The archive storage class the vault's data packs are written in
    /// (`GLACIER`, `DEEP_ARCHIVE`), whose objects must be restored (thawed)
    /// before a read; `None` (the default) for a store or vault without
    /// one, where [`Backend::thaw_state`] and [`Backend::request_thaw`]
    /// have nothing to do.
    fn archive_class(&self) -> Option<String> {
        self.data_pack_class()
            .filter(|c| is_archive_class(c))
            .map(|c| c.to_ascii_uppercase())
    }
    /// Whether each of `paths` can be read now (in the same order). The
    /// default (a store without archive classes): all readable.
    fn thaw_state(&self, paths: &[String]) -> Result<Vec<ThawState>, StorageError> {
        Ok(vec![ThawState::Readable; paths.len()])
    }
    /// Asks the store to restore (thaw) each of `paths` that is frozen,
    /// readable for `days` days, at `tier`. Idempotent: an object already
    /// readable or whose restore is under way is not asked again, so a
    /// second call after an interrupted one requests only what is left.
    /// The default (a store without archive classes): all readable.
    fn request_thaw(
        &self,
        paths: &[String],
        days: u32,
        tier: ThawTier,
    ) -> Result<ThawStats, StorageError> {
        let _ = (days, tier);
        Ok(ThawStats {
            objects: paths.len(),
            ready: paths.len(),
            ..ThawStats::default()
        })
    }
    /// How many object writes pay off running at once: a remote store hides
    /// its latency behind several, a local disk gains nothing from more than
    /// one (and each write in flight holds a pack in memory).
    fn concurrent_writes(&self) -> usize {
        1
    }
    /// Whether a small ranged read costs about a system call (a local
    /// disk): then readers fetch tree blobs one by one instead of keeping
    /// whole tree packs in memory. The default is no (a remote store, where
    /// every request is a round trip).
    fn cheap_reads(&self) -> bool {
        false
    }
    /// Whether [`Backend::stage`] works: objects can be written piece by
    /// piece and named when complete (a local directory: a temporary file
    /// linked into place). The default is no: whole objects only.
    fn can_stage(&self) -> bool {
        false
    }
    /// Starts an object to be written piece by piece and named when it is
    /// complete, so that a writer does not hold a whole pack in memory.
    fn stage(&self) -> Result<Box<dyn Staged>, StorageError> {
        Err(StorageError {
            op: "stage",
            path: String::new(),
            message: format!("{} takes whole objects only", self.location()),
            not_found: false,
            retryable: false,
            kind: crate::error::StorageErrorKind::Other,
        })
    }
    /// How many ranged reads pay off running at once when restoring: a
    /// remote store answers each after a round trip, so more reads than
    /// cores keep it busy; for a local disk the cores are the limit (the
    /// default: restore runs one read per core).
    fn concurrent_reads(&self) -> usize {
        1
    }
    /// Reads a whole object.
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError>;
    /// Reads `len` bytes at `offset`.
    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError>;
    /// Lists the objects below a prefix (recursively), e.g. `snapshots/`.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError>;
    /// Lists the objects below a prefix as [`Backend::list`] does, each
    /// with the storage class the store keeps it in now, as the store's
    /// listing says (S3 ListObjectsV2 `StorageClass`): an object a bucket
    /// lifecycle rule moved is listed in its new class. The default, for a
    /// store without storage classes: [`Backend::list`] with no class.
    fn list_classes(&self, prefix: &str) -> Result<Vec<ClassedObject>, StorageError> {
        Ok(self
            .list(prefix)?
            .into_iter()
            .map(|o| ClassedObject {
                path: o.path,
                size: o.size,
                class: None,
            })
            .collect())
    }
    /// Deletes an object; deleting a missing object is not an error.
    fn delete(&self, path: &str) -> Result<(), StorageError>;
    /// When an object was last written, if the store tells (a local file's
    /// modification time, S3's `Last-Modified`); `None` when it does not.
    /// Used to date the newest archived WAL file without reading it.
    fn modified(&self, path: &str) -> Result<Option<jiff::Timestamp>, StorageError> {
        let _ = path;
        Ok(None)
    }
    /// The store's own clock, read from a fresh response (S3: its `Date`
    /// header), for judging ages by the store's time as well as this
    /// machine's ([`crate::clock`]); `None` for a store without a clock of
    /// its own (a local directory: the system clock is its clock).
    fn store_time(&self) -> Result<Option<jiff::Timestamp>, StorageError> {
        Ok(None)
    }
    /// Whether the store can enforce retention per object (S3 Object
    /// Lock). A local directory cannot.
    fn supports_object_lock(&self) -> bool {
        false
    }
    /// Sets the retention every later [`Backend::write`] gives its object.
    /// Backends without object lock ignore it.
    fn set_write_retention(&self, _retention: WriteRetention) {}
    /// The retention later writes get.
    fn write_retention(&self) -> WriteRetention {
        WriteRetention::None
    }
    /// Makes sure each object carries at least the given retention:
    /// objects whose retain-until is earlier (or that have none) get the
    /// later date; a retention is never shortened, and a COMPLIANCE one
    /// never becomes GOVERNANCE.
    fn ensure_retention(
        &self,
        items: Vec<(String, ObjectRetention)>,
    ) -> Result<RetentionStats, StorageError> {
        Err(StorageError {
            op: "set retention",
            path: items.first().map(|i| i.0.clone()).unwrap_or_default(),
            message: format!(
                "{} does not support object lock; coffer enforces the vault lock in software only",
                self.location()
            ),
            not_found: false,
            retryable: false,
            kind: crate::error::StorageErrorKind::Other,
        })
    }
    /// Whether an object exists.
    fn exists(&self, path: &str) -> Result<bool, StorageError> {
        match self.read_range(path, 0, 1) {
            Ok(_) => Ok(true),
            Err(e) if e.not_found => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The kinds of objects in a vault and where they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// Key slots: `keys/<random id>`.
    Key,
    /// Snapshots: `snapshots/<id>`.
    Snapshot,
    /// Index objects: `index/<id>`.
    Index,
    /// Packs: `packs/<first two hex digits>/<id>`.
    Pack,
    /// Archived PostgreSQL WAL files: `wal/<encrypted file name>`. Their
    /// names are not ids (see [`crate::wal`]), so [`ObjectKind::path`] and
    /// [`ObjectKind::id_of`] do not apply; use [`crate::wal::object_path`].
    Wal,
    /// Vault lock records: `locks/<id>` (see [`crate::lock`]).
    Lock,
    /// Legal holds: `holds/<keyed hash of the snapshot id>` (see
    /// [`crate::lock`]); the one kind whose name is not the hash of its bytes
    /// but of the snapshot it holds, so it can be found and released.
    Hold,
    /// Writer sessions of running backups and prunes: `sessions/<id>`
    /// (see [`crate::session`]).
    Session,
    /// Prune plans waiting for their delete phase: `prune/<id>` (see
    /// [`crate::prune`]).
    PrunePlan,
    /// Keyrings of key epochs after the first: `epochs/<random id>`, each
    /// sealed under its epoch's secret and holding the older epochs'
    /// secrets (see [`crate::keys`]).
    Epoch,
    /// Fleet records: `fleet/<id>`, job outcomes and host heartbeats (see
    /// [`crate::fleet`]).
    Fleet,
}

impl ObjectKind {
    /// The directory of this kind, with a trailing slash.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectKind::Key => "keys/",
            ObjectKind::Snapshot => "snapshots/",
            ObjectKind::Index => "index/",
            ObjectKind::Pack => "packs/",
            ObjectKind::Wal => "wal/",
            ObjectKind::Lock => "locks/",
            ObjectKind::Hold => "holds/",
            ObjectKind::Session => "sessions/",
            ObjectKind::PrunePlan => "prune/",
            ObjectKind::Epoch => "epochs/",
            ObjectKind::Fleet => "fleet/",
        }
    }

    /// The path of an object of this kind.
    pub fn path(self, id: &Id) -> String {
        let hex = id.to_hex();
        match self {
            ObjectKind::Pack => format!("packs/{}/{}", &hex[..2], hex),
            _ => format!("{}{}", self.prefix(), hex),
        }
    }

    /// The associated data that binds a sealed object to its kind.
    pub fn aad(self) -> &'static [u8] {
        match self {
            ObjectKind::Key => b"coffer.key",
            ObjectKind::Snapshot => b"coffer.snapshot",
            ObjectKind::Index => b"coffer.index",
            ObjectKind::Pack => b"coffer.packheader",
            ObjectKind::Wal => b"coffer.wal",
            ObjectKind::Lock => b"coffer.lock",
            ObjectKind::Hold => b"coffer.hold",
            ObjectKind::Session => b"coffer.session",
            ObjectKind::PrunePlan => b"coffer.prune",
            ObjectKind::Epoch => b"coffer.keyring",
            ObjectKind::Fleet => b"coffer.fleet",
        }
    }

    /// Parses the id out of a listed path of this kind.
    pub fn id_of(self, path: &str) -> Option<Id> {
        let name = path.rsplit('/').next()?;
        Id::parse(name)
    }
}
