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
//!
//! Layout:
//! - `format/`: what is stored and how, one module per kind of object or
//!   encoding ([`id`], [`crypto`], [`keys`], [`chunker`], [`pack`],
//!   [`index`], [`tree`], [`snapshot`], [`wal`], [`lock`], [`session`],
//!   [`staging`]). `staging` is here because the names of staged files in
//!   a local vault's `.tmp/` are a stored convention, which sessions and
//!   prune both read.
//! - `ops/`: the operations on a vault ([`archiver`] for backup,
//!   [`restore`], [`check`](mod@check), [`copy`], [`diff`](mod@diff),
//!   [`retention`], [`forget`], [`prune`](mod@prune), [`progress`](mod@progress),
//!   [`rotate`](mod@rotate)), each with its options and its stats, report
//!   or plan.
//! - At the top, what both use: [`vault`] (the [`Vault`] handle that opens a
//!   vault and reads and writes its sealed objects: formats and operations
//!   all go through it, and it uses the formats, so it belongs to neither
//!   folder), [`backend`] (the [`Backend`] trait objects are stored
//!   through), [`error`] (the errors of every module), [`clock`] (whose
//!   clock a destructive decision trusts, asked by the vault lock, writer
//!   sessions and forget alike), `fuzzing` (helpers for the fuzz targets, not
//!   part of the API) and, in tests only, `test_backend` (an in-memory
//!   [`Backend`] for unit tests).
//!
//! Every module of `format/` and `ops/` is re-exported at the crate root
//! (`coffer_core::lock`, `coffer_core::prune` …), so paths do not name the
//! folder; the curated `pub use` block below names the API most callers
//! need.

#![deny(missing_docs)]

pub mod backend;
pub mod clock;
pub mod error;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod ops;
#[cfg(test)]
mod test_backend;
pub mod vault;

// The old paths (`coffer_core::lock::VaultLock`, `crate::pack::…`) stay:
// every module of format/ and ops/ is re-exported at the crate root.
pub use format::{
    chunker, crypto, id, index, keys, lock, pack, session, snapshot, staging, tree, wal,
};
pub use ops::{
    archiver, backup, check, copy, diff, fleet, forget, progress, prune, restore, retention,
    rewrite, rotate, thaw, usage,
};

pub use archiver::{Archiver, BackupOptions, Cancel};
pub use backend::{
    Backend, ClassedObject, ObjectInfo, ObjectKind, ObjectRetention, RetentionStats, Staged,
    ThawState, ThawStats, ThawTier, WriteRetention, THAW_CHECK,
};
pub use backup::{run_backup, BackupResult, SnapshotMeta, SourceOutput};
pub use check::{
    check, check_snapshots, check_with_cancel, CheckOptions, CheckReport, Problem, ReadData,
    SnapshotsCheck,
};
pub use chunker::ChunkSource;
pub use copy::{copy_snapshots, CopyCounters, CopyOptions, CopyStats, CopyStatus, SnapshotCopy};
pub use crypto::MasterKey;
pub use diff::{diff, Change};
pub use error::{Error, ErrorKind, Result, StorageError, StorageErrorKind};
pub use forget::{execute_forget, plan_forget, ForgetItem, ForgetOptions, ForgetPlan, ForgetStats};
pub use id::Id;
pub use index::Index;
pub use keys::{KdfParams, Secret, SlotInfo, SlotProblem};
pub use lock::{HoldRecord, LockMode, LockPolicy, LockRecord, LockState, RetentionPlan, VaultLock};
pub use pack::BlobKind;
pub use progress::Progress;
pub use prune::{prune, PruneOptions, PrunePlan, PruneReport};
pub use restore::{ensure_thawed, restore_contents, ContentStats, Delivery, Part};
pub use retention::{plan_retention, Candidate, Decision, GroupBy, Protection, RetentionPolicy};
pub use rewrite::{
    execute_rewrite, plan_rewrite, RemovedPath, RewriteAction, RewriteItem, RewriteOptions,
    RewritePlan, RewriteStats, Rewritten,
};
pub use rotate::{rotate, RotateOptions, RotateStats};
pub use session::{Session, SessionGuard, SessionKind};
pub use snapshot::{BackupSummary, Origin, Snapshot, SnapshotFilter, SourceInfo};
pub use thaw::{snapshot_data_packs, thaw_snapshot, ThawOptions, ThawReport};
pub use tree::{ChunkRef, Node, NodeKind, Time, Tree, TreeError, Xattr};
pub use usage::{usage, ClassUsage, KindUsage, PackUsage, UsageReport};
pub use vault::{
    ChunkerParams, EpochInfo, InitOptions, KeySummary, Vault, VaultConfig, FORMAT_VERSION,
};

/// `n` things: `1 snapshot`, `2 snapshots`, `0 directories`, `3 index
/// objects`. `thing` is the singular; its last word takes the plural.
pub fn human_count(n: u64, thing: &str) -> String {
    if n == 1 {
        return format!("1 {thing}");
    }
    let ies = thing.ends_with('y')
        && !thing
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c));
    if ies {
        format!("{n} {}ies", &thing[..thing.len() - 1])
    } else if ["s", "x", "ch", "sh"].iter().any(|e| thing.ends_with(e)) {
        format!("{n} {thing}es")
    } else {
        format!("{n} {thing}s")
    }
}

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
