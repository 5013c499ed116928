//! What `wal-prune` is asked to do ([`PruneOptions`]) and what it did
//! ([`PruneReport`]); a file of its own so that [`crate::error`] can carry
//! the report without importing the WAL code.

/// What [`prune`](super::wal::prune) does.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// "Now", for the vault lock's minimum retention.
    pub now: jiff::Timestamp,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            now: jiff::Timestamp::now(),
        }
    }
}

/// What [`prune`](super::wal::prune) did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    /// Nothing was deleted: only counted.
    pub dry_run: bool,
    /// Base backups (`postgres-base` snapshots) in the vault.
    pub base_backups: usize,
    /// The horizon: the start WAL file of the oldest base backup. Segments
    /// before it (on any timeline) are deleted. `None` when the vault has
    /// no base backup, and then nothing is deleted.
    pub horizon: Option<String>,
    /// The snapshot (hex id) of the base backup that sets the horizon.
    pub horizon_snapshot: Option<String>,
    /// When that base backup was taken.
    pub horizon_time: Option<String>,
    /// WAL segments deleted.
    pub segments_deleted: usize,
    /// Backup history files (`X.000000XX.backup`) deleted.
    pub history_files_deleted: usize,
    /// Stored bytes of the deleted objects (from the listing).
    pub bytes_freed: u64,
    /// Objects before the horizon kept because the vault lock's minimum
    /// retention has not passed for them (or the store does not tell when
    /// they were written).
    pub kept_for_lock: usize,
    /// Archived files kept (at or after the horizon, timeline history,
    /// `.partial`, kept for the lock, or failed to delete).
    pub kept: usize,
    /// Objects whose deletion failed, one line each (`name: error`, the
    /// error names the object path).
    pub failed: Vec<String>,
}
