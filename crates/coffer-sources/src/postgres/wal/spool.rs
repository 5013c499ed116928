//! `wal-fetch` with prefetching: recovery asks for one segment at a time
//! and waits for each; [`fetch_prefetching`] fetches the following
//! segments in parallel into a spool that the next calls read locally.
//!
//! - The spool (default `coffer-spool/fetch` beside the destination, i.e.
//!   in the recovering server's `pg_wal`, see [`fetch_spool`]) holds the
//!   vault's objects as stored: sealed. A spooled file is opened with the
//!   key, authenticated against the name it is asked for, when it is used;
//!   one that does not open (damaged, truncated by a crash, of another
//!   vault or another name) is discarded and fetched again from the vault.
//! - A call whose segment is not spooled, or that finds fewer than half of
//!   the next [`FetchOptions::prefetch`] segments spooled, fetches the
//!   missing ones of that window in parallel (the requested one with them).
//!   Every spool write must succeed before the segment is handed to
//!   PostgreSQL: a full or broken spool fails the call, and the destination
//!   is not written.
//! - Segments before the requested one are removed from the spool (recovery
//!   never goes back), and so are temporary files left by a crash.
//! - Only segments are prefetched; history, backup history and partial
//!   files are fetched directly. The next names assume 16 MiB segments (256
//!   per log); with other sizes, prefetching stops at a log boundary and the
//!   next call fetches on demand.

use std::path::{Path, PathBuf};

use coffer_core::wal;
use coffer_core::Vault;

use super::{
    fetch, parent_dir, run_parallel, write_atomically, write_renamed, FetchOutcome, Segment,
};
use crate::error::{SourceError, SourceResult};

/// Segments fetched at once by default.
pub const DEFAULT_FETCH_PARALLEL: usize = 4;
/// Segments fetched ahead by default.
pub const DEFAULT_PREFETCH: usize = 8;

/// How [`fetch_prefetching`] works.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Segments fetched at once (threads, at least 1).
    pub parallel: usize,
    /// Segments fetched ahead into the spool (0: none, no spool).
    pub prefetch: usize,
    /// The spool directory (segments go in `fetch/` in it); `None`:
    /// [`fetch_spool`]'s default.
    pub spool: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            parallel: DEFAULT_FETCH_PARALLEL,
            prefetch: DEFAULT_PREFETCH,
            spool: None,
        }
    }
}

/// What a `wal-fetch` call did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FetchReport {
    /// The requested file.
    pub wal_file: String,
    /// Whether the vault lacks it (nothing was written).
    pub missing: bool,
    /// Bytes written to the destination.
    pub bytes: u64,
    /// Whether it came from the spool.
    pub from_spool: bool,
    /// Segments fetched into the spool by this call.
    pub prefetched: Vec<String>,
    /// Spooled files that did not authenticate and were discarded.
    pub discarded: Vec<String>,
    /// The spool, when one was used.
    pub spool: Option<PathBuf>,
}

/// The fetch spool: `fetch` in the spool directory `spool`, else in
/// `coffer-spool` beside `dest` (PostgreSQL passes `pg_wal/RECOVERYXLOG`
/// as `%p`).
pub fn fetch_spool(dest: &Path, spool: Option<&Path>) -> PathBuf {
    spool
        .map(Path::to_path_buf)
        .unwrap_or_else(|| parent_dir(dest).join("coffer-spool"))
        .join("fetch")
}

/// The `n` segments after `s` on its timeline (16 MiB segments).
fn following(s: Segment, n: usize) -> Vec<Segment> {
    let mut out = Vec::with_capacity(n);
    let mut cur = s;
    for _ in 0..n {
        cur = if cur.seg >= 0xFF {
            match cur.log.checked_add(1) {
                Some(log) => Segment { log, seg: 0, ..cur },
                None => break,
            }
        } else {
            Segment {
                seg: cur.seg + 1,
                ..cur
            }
        };
        out.push(cur);
    }
    out
}

fn spool_err(spool: &Path, what: String, e: std::io::Error) -> SourceError {
    SourceError::io(
        format!(
            "{what} in the wal-fetch spool {}: free space there, give --spool DIR elsewhere, or --prefetch 0 to fetch without a spool; \
             the segment was not handed to PostgreSQL",
            spool.display()
        ),
        e,
    )
}

/// Writes archived WAL file `name` to `dest` atomically, from the spool
/// when it is there, prefetching the following segments (see the module
/// documentation); reports it missing without touching `dest`.
pub fn fetch_prefetching(
    vault: &Vault,
    name: &str,
    dest: &Path,
    opts: &FetchOptions,
) -> SourceResult<FetchReport> {
    let mut report = FetchReport {
        wal_file: name.to_string(),
        ..Default::default()
    };
    let seg = match Segment::parse(name) {
        Some(s) if opts.prefetch > 0 => s,
        _ => {
            match fetch(vault, name, dest)? {
                FetchOutcome::Written(n) => report.bytes = n,
                FetchOutcome::Missing => report.missing = true,
            }
            return Ok(report);
        }
    };
    let spool = fetch_spool(dest, opts.spool.as_deref());
    report.spool = Some(spool.clone());
    std::fs::create_dir_all(&spool)
        .map_err(|e| spool_err(&spool, "creating the directory".into(), e))?;
    clean(&spool, seg);
    let spooled = |s: &Segment| spool.join(s.name()).exists();
    // The requested segment, from the spool if it opens there.
    let mut data = None;
    let here = spool.join(name);
    if let Ok(sealed) = std::fs::read(&here) {
        match wal::open(vault, name, &sealed, &here.to_string_lossy()) {
            Ok(d) => {
                data = Some(d);
                report.from_spool = true;
            }
            Err(_) => report.discarded.push(name.to_string()),
        }
        let _ = std::fs::remove_file(&here);
    }
    let window = following(seg, opts.prefetch);
    let ahead = window.iter().filter(|s| spooled(s)).count();
    let mut jobs: Vec<Segment> = Vec::new();
    if data.is_none() {
        jobs.push(seg);
    }
    if data.is_none() || ahead * 2 < window.len() {
        jobs.extend(window.iter().filter(|s| !spooled(s)).copied());
    }
    let results = run_parallel(&jobs, opts.parallel, |s| {
        let path = wal::object_path(vault, &s.name());
        match vault.backend().read(&path) {
            Ok(sealed) => Ok(Some((sealed, path))),
            Err(e) if e.not_found => Ok(None),
            Err(e) => Err(vault.storage_err(e)),
        }
    });
    let mut results = jobs.iter().zip(results);
    if data.is_none() {
        let (_, r) = results.next().expect("the requested segment");
        match r? {
            Some((sealed, path)) => data = Some(wal::open(vault, name, &sealed, &path)?),
            None => {
                report.missing = true;
                return Ok(report);
            }
        }
    }
    for (s, r) in results {
        // A prefetch the vault lacks, or cannot give now, is fetched on demand.
        let Ok(Some((sealed, _))) = r else { continue };
        let n = s.name();
        write_renamed(&spool.join(&n), &sealed, &format!("WAL file {n}"), false).map_err(|e| {
            match e {
                SourceError::Io { what, source } => spool_err(&spool, what, source),
                e => e,
            }
        })?;
        report.prefetched.push(n);
    }
    let data = data.expect("fetched");
    write_atomically(dest, &data, &format!("WAL file {name}"))?;
    report.bytes = data.len() as u64;
    Ok(report)
}

/// Removes spooled segments before `seg` (any timeline: recovery never goes
/// back) and temporary files a crash left.
fn clean(spool: &Path, seg: Segment) {
    let Ok(dir) = std::fs::read_dir(spool) else {
        return;
    };
    for e in dir.flatten() {
        let Ok(f) = e.file_name().into_string() else {
            continue;
        };
        let stale = match Segment::parse(&f) {
            Some(s) => (s.log, s.seg) < (seg.log, seg.seg),
            None => f.starts_with(".coffer-wal-"),
        };
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_crosses_a_log_boundary() {
        let s = Segment::parse("0000000200000003000000FE").unwrap();
        let names: Vec<String> = following(s, 3).iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            vec![
                "0000000200000003000000FF",
                "000000020000000400000000",
                "000000020000000400000001"
            ]
        );
    }
}
