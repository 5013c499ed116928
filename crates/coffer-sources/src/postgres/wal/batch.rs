//! `wal-push` of a batch: the file PostgreSQL asks for and, in parallel,
//! the next ones it has marked ready.
//!
//! PostgreSQL's archiver runs `archive_command` for one file at a time and
//! waits for it; each call pays for opening the vault (a password slot's
//! Argon2id) and for one store round trip. [`push_batch`] opens the key
//! once and pushes up to [`PushOptions::max_batch`] files, the requested one
//! and the oldest others listed as `pg_wal/archive_status/NAME.ready`
//! (timeline history files first, as PostgreSQL orders them), on
//! [`PushOptions::parallel`] threads.
//!
//! Nothing is acknowledged before it is durable: the call succeeds only if
//! the requested file is stored (or already was, with identical content).
//! For each other file made durable, a marker `NAME.ok` is written in the
//! push spool (default `pg_wal/coffer-spool/push`, see [`push_spool`])
//! holding the vault's id, its location and the BLAKE3 hash of the content
//! pushed. When PostgreSQL then asks for that file, [`pushed_before`] finds
//! the marker, hashes the file and, if vault and content match, returns at
//! once without opening the key; a file whose content changed goes the full
//! way, and [`coffer_core::wal::put`] refuses it naming both hashes. A lost
//! marker only costs that full way (an existence check in the vault).
//!
//! The queue: more ready files than [`PushOptions::max_queue`] means the
//! archive lags behind the server. WAL is never dropped for it (unlike
//! pgBackRest's `archive-push-queue-max`): the batch is still pushed, and
//! the report says [`PushReport::lag`], on which the command fails loudly.

use std::path::{Path, PathBuf};

use coffer_core::wal::{self, PutOutcome};
use coffer_core::{Backend, Vault};

use super::{file_name, parent_dir, run_parallel, write_renamed};
use crate::error::{SourceError, SourceResult};

/// Files pushed at once by default.
pub const DEFAULT_PUSH_PARALLEL: usize = 4;
/// Files pushed per call by default (the requested one included).
pub const DEFAULT_MAX_BATCH: usize = 32;

/// How [`push_batch`] works.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Files pushed at once (threads, at least 1).
    pub parallel: usize,
    /// Files pushed per call, the requested one included (1: only it).
    pub max_batch: usize,
    /// Ready files beyond which the archive lags ([`PushReport::lag`]).
    pub max_queue: Option<usize>,
    /// The spool directory (markers go in `push/` in it); `None`:
    /// [`push_spool`]'s default.
    pub spool: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            parallel: DEFAULT_PUSH_PARALLEL,
            max_batch: DEFAULT_MAX_BATCH,
            max_queue: None,
            spool: None,
        }
    }
}

/// A file pushed ahead in a batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushedFile {
    /// Its name.
    pub name: String,
    /// Bytes stored (0 when it was already archived).
    pub stored_bytes: u64,
    /// Whether the vault already held it with identical content.
    pub already_archived: bool,
}

/// A file of the batch that was not pushed ahead (PostgreSQL's own call
/// for it retries, and fails loudly if the cause remains).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchFailure {
    /// Its name.
    pub name: String,
    /// Why.
    pub error: String,
}

/// What a `wal-push` call did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    /// The requested file.
    pub wal_file: String,
    /// Whether the vault already held it with identical content.
    pub already_archived: bool,
    /// Bytes stored for it.
    pub stored_bytes: u64,
    /// Whether a marker of an earlier batch proved it durable (nothing was
    /// read from the vault).
    pub from_spool: bool,
    /// Other files made durable by this call.
    pub batch: Vec<PushedFile>,
    /// Other files of the batch that failed.
    pub failed: Vec<BatchFailure>,
    /// Ready files PostgreSQL had queued (`archive_status/*.ready`) when
    /// the call began, the requested one included.
    pub ready: usize,
    /// The configured queue limit.
    pub max_queue: Option<usize>,
    /// Whether `ready` exceeds `max_queue`: WAL_ARCHIVE_LAG.
    pub lag: bool,
}

/// The push spool: `push` in the spool directory `spool`, else in
/// `coffer-spool` beside the WAL file (PostgreSQL's `pg_wal`, whose
/// subdirectories base backups leave out).
pub fn push_spool(path: &Path, spool: Option<&Path>) -> PathBuf {
    spool
        .map(Path::to_path_buf)
        .unwrap_or_else(|| parent_dir(path).join("coffer-spool"))
        .join("push")
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Marker {
    vault_id: String,
    location: String,
    blake3: String,
}

fn marker_path(spool: &Path, name: &str) -> PathBuf {
    spool.join(format!("{name}.ok"))
}

fn read_marker(spool: &Path, name: &str) -> Option<Marker> {
    let bytes = std::fs::read(marker_path(spool, name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The id in the vault's plaintext `config` object, if it reads.
fn vault_id(backend: &dyn Backend) -> Option<String> {
    let bytes = backend.read("config").ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(v.get("id")?.as_str()?.to_string())
}

/// The fast path of a later call: `Some` when a marker of an earlier batch
/// says the file at `path`, with this very content, is durable in the vault
/// at `backend`. Reads the file and the vault's `config`, opens no key. The
/// marker is removed (PostgreSQL marks the file done next); `None` sends the
/// caller the full way.
pub fn pushed_before(
    path: &Path,
    opts: &PushOptions,
    backend: &dyn Backend,
) -> SourceResult<Option<PushReport>> {
    let name = file_name(path)?;
    let spool = push_spool(path, opts.spool.as_deref());
    let Some(marker) = read_marker(&spool, &name) else {
        return Ok(None);
    };
    let Some(id) = vault_id(backend) else {
        return Ok(None);
    };
    if marker.vault_id != id || marker.location != backend.location() {
        return Ok(None);
    }
    let data = std::fs::read(path)
        .map_err(|e| SourceError::io(format!("reading WAL file {}", path.display()), e))?;
    if wal::content_hash(&data) != marker.blake3 {
        return Ok(None);
    }
    let _ = std::fs::remove_file(marker_path(&spool, &name));
    Ok(Some(PushReport {
        wal_file: name,
        already_archived: true,
        stored_bytes: 0,
        from_spool: true,
        batch: Vec::new(),
        failed: Vec::new(),
        ready: 0,
        max_queue: opts.max_queue,
        lag: false,
    }))
}

/// The ready files in `pg_wal/archive_status` (names without `.ready`);
/// empty when the file is not in a `pg_wal` (no such directory).
fn ready_files(pg_wal: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(pg_wal.join("archive_status")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".ready").map(String::from))
        .filter(|n| !n.is_empty() && !n.contains('/') && n.len() <= wal::MAX_NAME)
        .collect();
    // Timeline history files first, then by name (PostgreSQL's order).
    names.sort_by_key(|n| (!n.ends_with(".history"), n.clone()));
    names
}

/// Pushes the WAL file at `path` and, in parallel, up to
/// `max_batch - 1` other ready files (see the module documentation).
/// Fails only when the requested file is not durable in the vault.
pub fn push_batch(vault: &Vault, path: &Path, opts: &PushOptions) -> SourceResult<PushReport> {
    let name = file_name(path)?;
    let pg_wal = parent_dir(path);
    let spool = push_spool(path, opts.spool.as_deref());
    let ready = ready_files(&pg_wal);
    let id = vault.config().id.clone();
    let location = vault.backend().location();
    let ahead: Vec<String> = ready
        .iter()
        .filter(|n| **n != name)
        .filter(|n| {
            read_marker(&spool, n).is_none_or(|m| m.vault_id != id || m.location != location)
        })
        .take(opts.max_batch.saturating_sub(1))
        .cloned()
        .collect();
    let mut jobs = vec![path.to_path_buf()];
    jobs.extend(ahead.iter().map(|n| pg_wal.join(n)));
    let results = run_parallel(
        &jobs,
        opts.parallel,
        |p| -> SourceResult<(String, PutOutcome)> {
            let data = std::fs::read(p)
                .map_err(|e| SourceError::io(format!("reading WAL file {}", p.display()), e))?;
            let n = file_name(p)?;
            let outcome = wal::put(vault, &n, &data)?;
            // Only the hash is kept for the marker: holding every file of
            // a batch in memory cost 16 MiB a file, and each new buffer
            // fresh pages from the kernel.
            Ok((wal::content_hash(&data), outcome))
        },
    );
    let mut results = results.into_iter();
    let (hash, outcome) = results.next().expect("the requested file")?;
    let mut report = PushReport {
        wal_file: name,
        already_archived: outcome == PutOutcome::AlreadyArchived,
        stored_bytes: match outcome {
            PutOutcome::Stored { stored } => stored,
            PutOutcome::AlreadyArchived => 0,
        },
        from_spool: false,
        batch: Vec::new(),
        failed: Vec::new(),
        ready: ready.len(),
        max_queue: opts.max_queue,
        lag: opts.max_queue.is_some_and(|m| ready.len() > m),
    };
    let mark = |n: &str, hash: &str| -> SourceResult<()> {
        let marker = Marker {
            vault_id: id.clone(),
            location: location.clone(),
            blake3: hash.to_string(),
        };
        let json = serde_json::to_vec(&marker).expect("a marker serializes");
        std::fs::create_dir_all(&spool)
            .map_err(|e| SourceError::io(format!("creating {}", spool.display()), e))?;
        write_renamed(&marker_path(&spool, n), &json, "a spool marker", false)
    };
    if report.lag {
        // The call fails for the lag and PostgreSQL retries it: the marker
        // makes that retry return at once, so the lag never stalls archiving.
        if let Err(e) = mark(&report.wal_file, &hash) {
            report.failed.push(BatchFailure {
                name: report.wal_file.clone(),
                error: format!("pushed, but its marker was not written: {e}"),
            });
        }
    }
    for (n, r) in ahead.iter().zip(results) {
        match r {
            Ok((hash, outcome)) => {
                if let Err(e) = mark(n, &hash) {
                    // Durable all the same; PostgreSQL's call for it checks the vault.
                    report.failed.push(BatchFailure {
                        name: n.clone(),
                        error: format!("pushed, but its marker was not written: {e}"),
                    });
                }
                report.batch.push(PushedFile {
                    name: n.clone(),
                    stored_bytes: match outcome {
                        PutOutcome::Stored { stored } => stored,
                        PutOutcome::AlreadyArchived => 0,
                    },
                    already_archived: outcome == PutOutcome::AlreadyArchived,
                });
            }
            Err(e) => report.failed.push(BatchFailure {
                name: n.clone(),
                error: e.to_string(),
            }),
        }
    }
    remove_stale_markers(&spool, &ready);
    Ok(report)
}

/// Removes the markers of files PostgreSQL no longer lists as ready (it
/// archived them, or removed them): they would never be read again.
fn remove_stale_markers(spool: &Path, ready: &[String]) {
    let Ok(dir) = std::fs::read_dir(spool) else {
        return;
    };
    for e in dir.flatten() {
        let Ok(f) = e.file_name().into_string() else {
            continue;
        };
        if let Some(n) = f.strip_suffix(".ok") {
            if !ready.iter().any(|r| r == n) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
