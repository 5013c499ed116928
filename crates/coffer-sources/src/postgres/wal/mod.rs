//! PostgreSQL WAL archiving: `wal-push` (`archive_command`), `wal-fetch`
//! (`restore_command`), `wal-verify` (gaps and the recoverable window, along
//! timelines: [`verify`]) and `wal-prune` (deletes WAL that no base backup
//! in the vault needs: [`prune`]).
//!
//! The object format (encrypted names, compressed and sealed content, the
//! retry rule) is coffer-core's [`coffer_core::wal`]; this module adds the
//! file handling PostgreSQL expects:
//!
//! - [`push`] reads one file, stores it and returns only once the object is
//!   durable. It loads no index and writes no snapshot, so it costs one
//!   existence check and one write per segment. [`push_batch`] (what
//!   `coffer wal-push` runs) also pushes, in parallel and with the one open
//!   key, the next files PostgreSQL has marked ready, and records each one
//!   made durable in a spool of markers, so that PostgreSQL's later call for
//!   it returns at once ([`pushed_before`]); see `batch.rs`.
//! - [`fetch`] writes a temporary file in the destination's directory,
//!   fsyncs it and renames it into place, so PostgreSQL never sees half a
//!   segment. A file the vault lacks is [`FetchOutcome::Missing`] and nothing
//!   is written: PostgreSQL asks for such files at the end of every recovery.
//!   [`fetch_prefetching`] (what `coffer wal-fetch` runs) also fetches the
//!   following segments in parallel into a spool of sealed objects that the
//!   next calls read locally; see `spool.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use coffer_core::wal::{self, PutOutcome};
use coffer_core::Vault;

use crate::error::{SourceError, SourceResult};

mod batch;
mod prune;
mod spool;
mod verify;

pub use super::segment::{format_lsn, parse_lsn, Segment};
pub use super::wal_prune_report::{PruneOptions, PruneReport};
pub use batch::{
    push_batch, push_spool, pushed_before, BatchFailure, PushOptions, PushReport, PushedFile,
    DEFAULT_MAX_BATCH, DEFAULT_PUSH_PARALLEL,
};
pub use prune::prune;
pub use spool::{
    fetch_prefetching, fetch_spool, FetchOptions, FetchReport, DEFAULT_FETCH_PARALLEL,
    DEFAULT_PREFETCH,
};
pub use verify::{verify, BaseBackupWal, Gap, VerifyReport};

/// What [`fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The file was written; its size in bytes.
    Written(u64),
    /// The vault holds no such file; nothing was written.
    Missing,
}

/// The WAL file name at the end of `path` (PostgreSQL's `%p`).
fn file_name(path: &Path) -> SourceResult<String> {
    Ok(path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            SourceError::Usage(format!(
                "{} does not end in a WAL file name: give the path PostgreSQL passes as %p",
                path.display()
            ))
        })?
        .to_string())
}

/// Archives the WAL file at `path` under its file name.
pub fn push(vault: &Vault, path: &Path) -> SourceResult<(String, PutOutcome)> {
    let name = file_name(path)?;
    let data = std::fs::read(path)
        .map_err(|e| SourceError::io(format!("reading WAL file {}", path.display()), e))?;
    let outcome = wal::put(vault, &name, &data)?;
    Ok((name, outcome))
}

/// Writes archived WAL file `name` to `dest` atomically, or reports it
/// missing without touching `dest`.
pub fn fetch(vault: &Vault, name: &str, dest: &Path) -> SourceResult<FetchOutcome> {
    let Some(data) = wal::get(vault, name)? else {
        return Ok(FetchOutcome::Missing);
    };
    write_atomically(dest, &data, &format!("WAL file {name}"))?;
    Ok(FetchOutcome::Written(data.len() as u64))
}

/// The directory of `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `data` to `dest` through a fsynced temporary file in its
/// directory renamed into place: a reader sees the old file or the whole
/// new one, never a part. `what` names the content in errors.
fn write_atomically(dest: &Path, data: &[u8], what: &str) -> SourceResult<()> {
    write_renamed(dest, data, what, true)
}

/// [`write_atomically`], with the fsyncs only when `durable`: spool files
/// need none, as a lost or truncated one only costs a trip to the vault
/// (a marker that does not parse is no marker; a spooled object that does
/// not authenticate is discarded).
fn write_renamed(dest: &Path, data: &[u8], what: &str, durable: bool) -> SourceResult<()> {
    let dir = parent_dir(dest);
    let mut tmp = tempfile::Builder::new()
        .prefix(".coffer-wal-")
        .tempfile_in(&dir)
        .map_err(|e| {
            SourceError::io(format!("creating a temporary file in {}", dir.display()), e)
        })?;
    tmp.write_all(data)
        .and_then(|_| match durable {
            true => tmp.as_file().sync_all(),
            false => Ok(()),
        })
        .map_err(|e| SourceError::io(format!("writing {what} to {}", tmp.path().display()), e))?;
    tmp.persist(dest)
        .map_err(|e| SourceError::io(format!("moving {what} to {}", dest.display()), e.error))?;
    if durable {
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Runs `f` on every item with up to `threads` threads (at least one),
/// results in the items' order. The threads take items from one shared
/// counter, so a slow item never holds up the others.
fn run_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let out: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *out[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    out.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item ran")
        })
        .collect()
}
