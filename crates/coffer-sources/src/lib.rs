//! coffer-sources: what coffer protects, and how it comes back.
//!
//! - [`files`]: walks directory trees into a vault (parallel, skipping
//!   unchanged files by their parent snapshot's metadata) and restores them
//!   with full fidelity (mode, owners by name and id, times, symlinks, hard
//!   links, xattrs, FIFOs, devices, sparse files, names that are not UTF-8).
//! - [`stream`]: any byte stream (standard input, dumps, command output) as a
//!   one-file snapshot, and [`stream::StreamReader`] to read it back in order.
//! - [`postgres`]: logical dumps of PostgreSQL databases (`pg_dump -Fc -Z0`,
//!   one snapshot per database) and the cluster's globals, restored through
//!   `pg_restore` (parallel with `--jobs`) and `psql`; base backups and WAL
//!   archiving beside them.
//! - [`mysql`]: MariaDB/MySQL dumps (`mariadb-dump --single-transaction`),
//!   restored through the `mariadb` client.
//! - [`redis`]: an RDB snapshot taken over the network with the replication
//!   protocol (as `redis-cli --rdb` does), so it works with persistence off.
//! - [`command`]: the standard output of any command; its exit status decides
//!   whether the snapshot is written.
//!
//! Every restore, whatever the front end, goes through [`restore::restore`]
//! with a [`restore::Destination`]: one place checks a snapshot's kind
//! against where it goes and keeps the restore beneath its target.
//!
//! Shared pieces: [`dburl`] parses server URLs and never prints a password;
//! [`process`] runs every child process (dump and restore tools, commands)
//! the same way; [`error`] holds the typed [`SourceError`].
//!
//! Every source runs through [`run_backup`], so the order of writes that
//! makes a kill safe (packs, index, then snapshot) is kept in one place. A
//! database or command source returns its tree only after its dump process
//! exited with status 0: a failed or killed dump returns an error before any
//! snapshot is written, leaving at most unreferenced packs for prune.
//!
//! | source | snapshot `source.kind` | file in the snapshot | restore |
//! | --- | --- | --- | --- |
//! | `--postgres URL/db` | `postgres` | `DB.pgdump` (custom format, uncompressed) | `pg_restore` into a database |
//! | `--postgres URL --globals` | `postgres-globals` | `globals.sql` | `psql` |
//! | `--mysql URL[/db]` | `mysql` | `DB.sql` or `all-databases.sql` | `mariadb` client |
//! | `--redis URL` | `redis` | `dump.rdb` | written into a directory for `redis-server` |
//! | `--command CMD --name N` | `command` | `N` | the recorded restore command, or a file |
//!
//! Physical PostgreSQL backups sit beside the logical ones in [`postgres`]
//! and share their tool discovery and connection handling
//! ([`postgres::logical`]):
//!
//! | command | snapshot `source.kind` / objects | restore |
//! | --- | --- | --- |
//! | `pg basebackup --postgres URL` ([`postgres::physical`], cut on page boundaries by [`postgres::pages`]) | `postgres-base`, file `base.tar` | `restore --pgdata DIR` with a recovery target |
//! | `wal-push PATH` ([`postgres::wal`]) | `wal/<encrypted name>` objects, no snapshot | `wal-fetch NAME DEST` (the server's restore_command) |

#![deny(missing_docs)]

pub mod command;
pub mod dburl;
pub mod error;
pub mod files;
pub mod filter;
pub mod mysql;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod restore;
pub mod spec;
pub mod stream;

pub use error::{SourceError, SourceResult};
pub use postgres::pages as pg_pages;
pub use postgres::physical as pg_physical;
pub use postgres::wal;

use coffer_core::{
    Archiver, BackupOptions, BackupSummary, Id, Index, Result, Snapshot, SourceInfo, Vault,
};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters a front end may poll to draw progress.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries visited.
    pub entries: AtomicU64,
    /// Bytes of content visited (read or found unchanged).
    pub bytes: AtomicU64,
    /// Bytes expected in total, when known.
    pub total_bytes: AtomicU64,
}

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
    /// `retain_until`; see [`coffer_core::Snapshot::retain_until`]).
    pub retain_until: Option<jiff::Timestamp>,
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

/// Runs one backup: writes a writer session (see [`coffer_core::session`]),
/// loads the index and the prune plans, lets `source` save its data through
/// an [`Archiver`], waits until every pack and index object is durable, and
/// only then writes the snapshot; the session is deleted at the end.
///
/// The source's error type `E` is the caller's choice (the vault's
/// [`coffer_core::Error`] or [`SourceError`]); a source that fails returns
/// `Err` and no snapshot is written.
pub fn run_backup<F, E>(
    vault: &Vault,
    opts: &BackupOptions,
    meta: &SnapshotMeta,
    source: F,
) -> Result<BackupResult, E>
where
    F: FnOnce(&Archiver, &Index) -> Result<SourceOutput, E>,
    E: From<coffer_core::Error>,
{
    let started = jiff::Timestamp::now();
    // The session goes first: prune holds back the delete phase of every
    // plan made before it (plus clock skew), and any plan made after it is
    // read with the index below, so this run never deduplicates against a
    // pack prune may delete. Dropped (deleted) on every way out.
    let session = if opts.dry_run {
        None
    } else {
        Some(coffer_core::SessionGuard::start(
            vault,
            coffer_core::SessionKind::Backup,
        )?)
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
        time: started.to_string(),
        tree: out.tree,
        paths: out.paths,
        hostname: meta.host.clone().unwrap_or_else(coffer_core::hostname),
        username: username(),
        tags: meta.tags.clone(),
        parent: out.parent,
        source: out.source,
        program_version: coffer_core::VERSION.to_string(),
        summary,
        retain_until: meta.retain_until.map(|t| t.to_string()),
        origin: None,
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

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
