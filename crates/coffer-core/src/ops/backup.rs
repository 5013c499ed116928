//! A backup's commit order, the one place it is written: every source (a
//! directory walk, a stream, a database dump, a base backup) saves its data
//! through [`run_backup`], which keeps the order that makes a kill at any
//! instant safe:
//!
//! 1. a writer **session** (`sessions/`), so prune holds back the delete
//!    phase of every plan made before it, and reads the plans made after it
//!    with the index;
//! 2. the **index** loaded (and the prune plans with it), so nothing is
//!    deduplicated against a condemned pack;
//! 3. the source's data saved through an [`Archiver`]: **packs**, then the
//!    **index** objects naming them, all durable before
//! 4. the **snapshot**, written last (after checking the session is still
//!    fresh); then the session is deleted.
//!
//! A source that fails returns an error before step 4: at most
//! unreferenced packs are left, which prune removes.

use crate::format::index::Index;
use crate::format::session::{SessionGuard, SessionKind};
use crate::format::snapshot::{BackupSummary, Snapshot, SourceInfo};
use crate::ops::archiver::{Archiver, BackupOptions};
use crate::vault::handle::Vault;
use crate::Id;
use std::sync::atomic::Ordering;

/// What a source hands back after saving its tree.
pub struct SourceOutput {
    /// The root tree.
    pub tree: Id,
    /// Paths or the stream's name, as recorded in the snapshot.
    pub paths: Vec<String>,
    /// The source kind and details.
    pub source: SourceInfo,
    /// Counters filled by the source (files, dirs, warnings …).
    pub summary: BackupSummary,
    /// Warnings (unreadable entries …), one line each.
    pub warnings: Vec<String>,
    /// The parent snapshot used, if any.
    pub parent: Option<Id>,
}

/// Common snapshot fields given by the caller.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMeta {
    /// Host name to record (default: this machine's).
    pub host: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Keep the snapshot at least until then (written as the snapshot's
    /// `retain_until`; see [`Snapshot::retain_until`]).
    pub retain_until: Option<jiff::Timestamp>,
    /// The time the snapshot records, when the caller judges time by a
    /// clock of its own (the daemon's runner in a test build, driving
    /// snapshots through their tiers by simulated days); `None`, always in
    /// a release build, records when the backup started.
    pub time: Option<jiff::Timestamp>,
}

/// The result of a backup.
#[derive(Debug, Clone)]
pub struct BackupResult {
    /// The new snapshot's id (`None` on a dry run).
    pub id: Option<Id>,
    /// The snapshot (also on a dry run).
    pub snapshot: Snapshot,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Runs one backup: writes a writer session (see [`crate::session`]),
/// loads the index and the prune plans, lets `source` save its data through
/// an [`Archiver`], waits until every pack and index object is durable, and
/// only then writes the snapshot; the session is deleted at the end.
///
/// The source's error type `E` is the caller's choice (the vault's
/// [`crate::Error`] or a source crate's own); a source that fails returns
/// `Err` and no snapshot is written.
pub fn run_backup<F, E>(
    vault: &Vault,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
    source: F,
) -> Result<BackupResult, E>
where
    F: FnOnce(&Archiver, &Index) -> Result<SourceOutput, E>,
    E: From<crate::Error>,
{
    let started = jiff::Timestamp::now();
    // The session goes first: prune holds back the delete phase of every
    // plan made before it (plus clock skew), and any plan made after it is
    // read with the index below, so this run never deduplicates against a
    // pack prune may delete. Dropped (deleted) on every way out.
    let session = if opts.dry_run {
        None
    } else {
        Some(SessionGuard::start(vault, SessionKind::Backup)?)
    };
    let index = vault.load_index()?;
    let archiver = Archiver::new(vault, &index, opts.clone());
    let out = source(&archiver, &index)?;
    let st = archiver.stats();
    let mut summary = out.summary;
    summary.bytes_read = st.bytes_read.load(Ordering::Relaxed);
    summary.blobs_added = st.blobs_added.load(Ordering::Relaxed);
    summary.bytes_added = st.bytes_added.load(Ordering::Relaxed);
    summary.bytes_stored = st.bytes_stored.load(Ordering::Relaxed);
    summary.warnings = out.warnings.len() as u64;
    archiver.finish()?;
    summary.started = started.to_string();
    summary.finished = jiff::Timestamp::now().to_string();
    let snapshot = Snapshot {
        version: 1,
        time: meta.time.unwrap_or(started).to_string(),
        tree: out.tree,
        paths: out.paths,
        hostname: meta.host.clone().unwrap_or_else(crate::hostname),
        username: username(),
        tags: meta.tags.clone(),
        parent: out.parent,
        source: out.source,
        program_version: crate::VERSION.to_string(),
        summary,
        retain_until: meta.retain_until.map(|t| t.to_string()),
        origin: None,
        rewritten_from: None,
    };
    let id = match &session {
        None => None,
        Some(session) => {
            session.check_fresh()?;
            Some(vault.save_snapshot(&snapshot)?)
        }
    };
    drop(session);
    Ok(BackupResult {
        id,
        snapshot,
        warnings: out.warnings,
    })
}

/// The user running this process.
pub fn username() -> String {
    uzers::get_current_username()
        .map(|u| u.to_string_lossy().into_owned())
        .unwrap_or_else(|| unsafe { libc::geteuid() }.to_string())
}
