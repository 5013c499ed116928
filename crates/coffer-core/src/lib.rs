//! coffer-core: the vault.
//!
//! A vault is a set of write-once objects on a [`Backend`]: a plaintext
//! `config`, key slots under `keys/`, and sealed snapshots, index objects and
//! packs, plus vault lock records and legal holds ([`lock`]) that
//! [`forget`] honours. The full format is in `docs/format.md`; this crate is its only
//! writer.
//!
//! Invariants this crate keeps:
//! - **Write once.** No object is ever rewritten or renamed. Object names are
//!   keyed BLAKE3 hashes of the stored bytes (or random, for key slots), so
//!   names reveal nothing about content. Archived WAL files ([`wal`]) are
//!   named by their encrypted PostgreSQL file name instead, and a second
//!   write of a name is refused unless its content is identical.
//! - **Sealed.** Everything but `config` and the key slots' salts is
//!   encrypted and authenticated with XChaCha20-Poly1305 under a random
//!   192-bit nonce before it leaves the process ([`crypto`]).
//! - **Crash safe.** A backup writes packs, then index objects, then the
//!   snapshot. A kill at any instant leaves at most unreferenced packs and
//!   index objects, which `check` accepts and prune removes.
//! - **No global lock.** Several writers may back up into one vault at once;
//!   each only adds objects. Duplicate blobs across writers are harmless.
//! - **Bounded memory.** The in-memory index costs 44 bytes per chunk
//!   ([`Index::BYTES_PER_ENTRY`]); the backup pipeline holds a bounded
//!   number of packs (none where packs are staged in the store as they
//!   fill) and chunk batches; a restore holds one ranged read and at most
//!   one chunk's plaintext per thread (large chunks are streamed).
//! - **Verified reads.** Every blob is checked against its keyed hash before
//!   its bytes are used; damage yields [`Error::Damaged`] naming the object.
//!
//! This crate is synchronous: no async runtime, no CLI or HTTP types.

#![deny(missing_docs)]

pub mod archiver;
pub mod backend;
pub mod check;
pub mod chunker;
pub mod clock;
pub mod copy;
pub mod crypto;
pub mod diff;
pub mod error;
pub mod forget;
#[doc(hidden)]
pub mod fuzzing;
pub mod id;
pub mod index;
pub mod keys;
pub mod lock;
pub mod pack;
pub mod prune;
pub mod restore;
pub mod retention;
pub mod rotate;
pub mod session;
pub mod snapshot;
pub mod staging;
#[cfg(test)]
mod test_backend;
pub mod tree;
pub mod vault;
pub mod wal;

pub use archiver::{Archiver, BackupOptions, Cancel};
pub use backend::{
    Backend, ObjectInfo, ObjectKind, ObjectRetention, RetentionStats, Staged, WriteRetention,
};
pub use check::{check, check_with_cancel, CheckOptions, CheckReport, Problem, ReadData};
pub use chunker::ChunkSource;
pub use copy::{copy_snapshots, CopyCounters, CopyOptions, CopyStats, CopyStatus, SnapshotCopy};
pub use crypto::MasterKey;
pub use diff::{diff, Change};
pub use error::{Error, ErrorKind, Result, StorageError};
pub use forget::{execute_forget, plan_forget, ForgetItem, ForgetOptions, ForgetPlan, ForgetStats};
pub use id::Id;
pub use index::Index;
pub use keys::{KdfParams, Secret, SlotInfo, SlotProblem};
pub use lock::{HoldRecord, LockMode, LockPolicy, LockRecord, LockState, RetentionPlan, VaultLock};
pub use pack::BlobKind;
pub use prune::{prune, PruneOptions, PrunePlan, PruneReport};
pub use restore::{restore_contents, ContentStats, Delivery, Part};
pub use retention::{plan_retention, Candidate, Decision, GroupBy, Protection, RetentionPolicy};
pub use rotate::{rotate, RotateOptions, RotateStats};
pub use session::{Session, SessionGuard, SessionKind};
pub use snapshot::{BackupSummary, Origin, Snapshot, SnapshotFilter, SourceInfo};
pub use tree::{ChunkRef, Node, NodeKind, Time, Tree, TreeError, Xattr};
pub use vault::{ChunkerParams, EpochInfo, InitOptions, Vault, VaultConfig, FORMAT_VERSION};

/// A byte count for people: `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// This machine's host name (from the kernel), or `unknown`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The version of coffer that writes snapshots.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
