//! What a prune reports.

use serde::Serialize;

use crate::format::id::Id;
use crate::format::session::{Session, SessionKind};

/// A live session, as named in a report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// `backup` or `prune`.
    pub kind: SessionKind,
    /// Host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started: String,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        SessionInfo {
            kind: s.kind,
            host: s.host.clone(),
            pid: s.pid,
            started: s.started.clone(),
        }
    }
}

/// A plan whose delete phase waits for running sessions.
#[derive(Debug, Clone, Serialize)]
pub struct DeferredPlan {
    /// The plan's id.
    pub plan: Id,
    /// When it was made.
    pub created: String,
    /// Packs it condemns.
    pub packs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The sessions it waits for (a damaged session object counts as one,
    /// named by its path in `host`).
    pub sessions: Vec<SessionInfo>,
}

/// What prune did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Nothing was written or deleted.
    pub dry_run: bool,
    /// Snapshots whose data was kept.
    pub snapshots: usize,
    /// Packs in the vault when prune started, and their bytes.
    pub packs: usize,
    /// Bytes of those packs.
    pub bytes: u64,
    /// Packs no snapshot uses (condemned by this run's plan).
    pub packs_unused: usize,
    /// Their bytes.
    pub bytes_unused: u64,
    /// Packs no index object lists (left by killed or running backups).
    pub packs_unreferenced: usize,
    /// Their bytes.
    pub bytes_unreferenced: u64,
    /// Packs repacked (their used blobs copied, the packs condemned).
    pub packs_repacked: usize,
    /// Bytes of the packs repacked.
    pub bytes_repacked: u64,
    /// Blobs copied by repacking.
    pub blobs_copied: u64,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Bytes of the new packs.
    pub bytes_written: u64,
    /// The plan this run wrote (none when nothing was condemned).
    pub plan: Option<Id>,
    /// Plans whose delete phase ran (this run's included).
    pub plans_done: Vec<Id>,
    /// Plans that wait for running sessions.
    pub plans_deferred: Vec<DeferredPlan>,
    /// Packs deleted.
    pub packs_deleted: usize,
    /// Bytes of the packs deleted.
    pub bytes_deleted: u64,
    /// Condemned packs kept because a snapshot made after the plan uses them.
    pub packs_spared: usize,
    /// Index objects replaced by ones without the deleted packs.
    pub index_objects_rewritten: usize,
    /// Bytes freed now: deleted minus written by repacking (on a dry run,
    /// an estimate that assumes no plan is deferred).
    pub bytes_freed: u64,
    /// Session objects removed (older than a day, or of processes gone on
    /// this machine).
    pub sessions_removed: usize,
    /// `.tmp/` leftovers removed from a local vault.
    pub tmp_files_removed: usize,
    /// Things skipped, one line each (a pack that could not be repacked …).
    pub warnings: Vec<String>,
    /// Repack candidates left for a later run by
    /// [`PruneOptions::max_repack_percent`](super::PruneOptions::max_repack_percent).
    pub packs_repack_deferred: usize,
    /// Their bytes.
    pub bytes_repack_deferred: u64,
    /// The data-pack bytes this run could repack under
    /// `max_repack_percent` (absent when it is 100).
    pub repack_budget: Option<u64>,
    /// Repack candidates not repacked because their storage class's minimum
    /// storage duration is not over (see [`super::cost`]).
    pub min_storage_skipped: Option<MinStorageSkip>,
    /// Repack candidates not repacked because their storage class is an
    /// archive class (GLACIER, DEEP_ARCHIVE): reading them would need a
    /// thaw first. Wholly unused packs are still deleted.
    pub archived_skipped: Option<ArchivedSkip>,
    /// New packs whose store retention (S3 Object Lock) was extended beyond
    /// the write default, to what their newest snapshot needs.
    pub packs_retention_extended: usize,
    /// Set when the run stopped early at a safe point (its completion
    /// window): why. Repacking done so far is condemned in this run's plan;
    /// the delete phase did not run, or stopped part way; the vault passes
    /// `check`, and the next prune goes on.
    pub stopped: Option<String>,
}

/// Repack candidates skipped for their storage class's minimum storage
/// duration.
#[derive(Debug, Clone, Serialize)]
pub struct MinStorageSkip {
    /// The vault's data-pack storage class (`GLACIER_IR` ...).
    pub class: String,
    /// Its minimum storage duration in days.
    pub min_days: u32,
    /// Packs skipped.
    pub packs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The earliest time one of them may be repacked (RFC 3339; absent
    /// when the store did not say when a pack was written).
    pub next_eligible: Option<String>,
}

/// Repack candidates skipped because their storage class must be thawed
/// before a pack can be read.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedSkip {
    /// The vault's data-pack storage class (`GLACIER`, `DEEP_ARCHIVE`).
    pub class: String,
    /// Packs skipped.
    pub packs: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl ArchivedSkip {
    /// One line for people: what was skipped and why.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}) not repacked: storage class {} keeps packs unreadable until they are thawed, so prune never reads them; each is deleted whole once no snapshot needs any of its blobs",
            crate::human_count(self.packs as u64, "pack"),
            crate::human_bytes(self.bytes),
            self.class,
        )
    }
}

impl MinStorageSkip {
    /// One line for people: what was skipped and why.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}) not repacked: storage class {} bills {} days at least, and {} younger{}",
            crate::human_count(self.packs as u64, "pack"),
            crate::human_bytes(self.bytes),
            self.class,
            self.min_days,
            if self.packs == 1 { "it is" } else { "they are" },
            self.next_eligible
                .as_deref()
                .map(|t| format!("; the first can be repacked after {t}"))
                .unwrap_or_default()
        )
    }
}
