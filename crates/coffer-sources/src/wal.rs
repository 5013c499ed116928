//! PostgreSQL WAL archiving: `wal-push` (`archive_command`), `wal-fetch`
//! (`restore_command`) and `wal-verify` (gaps and the recoverable window).
//!
//! The object format (encrypted names, compressed and sealed content, the
//! retry rule) is coffer-core's [`coffer_core::wal`]; this module adds the
//! file handling PostgreSQL expects:
//!
//! - `wal-push` reads the file, stores it and returns only once the object
//!   is durable. It loads no index and writes no snapshot, so it costs one
//!   existence check and one write per segment.
//! - `wal-fetch` writes a temporary file in the destination's directory,
//!   fsyncs it and renames it into place, so PostgreSQL never sees half a
//!   segment. A file the vault lacks is [`FetchOutcome::Missing`] and nothing
//!   is written: PostgreSQL asks for such files at the end of every recovery.

use std::io::Write;
use std::path::Path;

use coffer_core::wal::{self, PutOutcome};
use coffer_core::Vault;

use crate::error::{SourceError, SourceResult};

/// What [`fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The file was written; its size in bytes.
    Written(u64),
    /// The vault holds no such file; nothing was written.
    Missing,
}

/// Archives the WAL file at `path` under its file name.
pub fn push(vault: &Vault, path: &Path) -> SourceResult<(String, PutOutcome)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            SourceError::Usage(format!(
                "{} does not end in a WAL file name: give the path PostgreSQL passes as %p",
                path.display()
            ))
        })?
        .to_string();
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
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".coffer-wal-fetch-")
        .tempfile_in(&dir)
        .map_err(|e| {
            SourceError::io(format!("creating a temporary file in {}", dir.display()), e)
        })?;
    tmp.write_all(&data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| SourceError::io(format!("writing {}", tmp.path().display()), e))?;
    tmp.persist(dest).map_err(|e| {
        SourceError::io(
            format!("moving WAL file {name} to {}", dest.display()),
            e.error,
        )
    })?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(FetchOutcome::Written(data.len() as u64))
}

/// A WAL segment file name: timeline, and the segment number split as
/// PostgreSQL writes it (`TTTTTTTTXXXXXXXXYYYYYYYY`, hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment {
    /// Timeline.
    pub timeline: u32,
    /// The "log" part (high 32 bits of the LSN).
    pub log: u32,
    /// The segment within the log.
    pub seg: u32,
}

impl Segment {
    /// Parses a segment name; `None` for history, backup and partial files.
    pub fn parse(name: &str) -> Option<Segment> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let p = |r: std::ops::Range<usize>| u32::from_str_radix(&name[r], 16).ok();
        Some(Segment {
            timeline: p(0..8)?,
            log: p(8..16)?,
            seg: p(16..24)?,
        })
    }

    /// The segment holding `lsn` on `timeline`, with segments of `seg_size`
    /// bytes.
    pub fn of_lsn(timeline: u32, lsn: u64, seg_size: u64) -> Segment {
        let per_log = 0x1_0000_0000 / seg_size;
        let n = lsn / seg_size;
        Segment {
            timeline,
            log: (n / per_log) as u32,
            seg: (n % per_log) as u32,
        }
    }

    /// The file name.
    pub fn name(&self) -> String {
        format!("{:08X}{:08X}{:08X}", self.timeline, self.log, self.seg)
    }

    /// The segment number counted from 0 (for gap arithmetic).
    pub fn number(&self, seg_size: u64) -> u64 {
        self.log as u64 * (0x1_0000_0000 / seg_size) + self.seg as u64
    }
}

/// Parses an LSN written as PostgreSQL does (`0/2000028`).
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Writes an LSN as PostgreSQL does.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// A run of missing segments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// The last archived segment before the gap.
    pub after: String,
    /// The first archived segment after it.
    pub before: String,
    /// Segments missing between them.
    pub missing: u64,
}

/// A base backup and whether the archive lets it recover.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaseBackupWal {
    /// Snapshot id (hex).
    pub snapshot: String,
    /// When it was taken.
    pub time: String,
    /// The first WAL file it needs.
    pub start_wal_file: String,
    /// The last WAL file it needs to become consistent (from the backup
    /// history file the server archived; `None` when that is missing).
    pub end_wal_file: Option<String>,
    /// Whether every segment from its start to its end is archived.
    pub consistent: bool,
    /// The newest segment reachable from its start without a gap.
    pub recoverable_to: Option<String>,
}

/// What `wal-verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Archived WAL segments.
    pub segments: usize,
    /// Other archived files (timeline history, backup history, partial).
    pub other_files: usize,
    /// The oldest and newest archived segment.
    pub oldest_segment: Option<String>,
    /// The newest archived segment.
    pub newest_segment: Option<String>,
    /// Gaps between the oldest and the newest segment (segment numbers no
    /// timeline has).
    pub gaps: Vec<Gap>,
    /// Gaps at or after the oldest base backup's start: they cut the
    /// recoverable window.
    pub gaps_in_window: usize,
    /// Base backups (`postgres-base` snapshots), oldest first.
    pub base_backups: Vec<BaseBackupWal>,
    /// The recoverable window: from the oldest base backup that can become
    /// consistent (its time) to the newest segment reachable from it.
    pub window: Option<(String, String)>,
    /// Names under `wal/` that do not decode.
    pub undecodable: Vec<String>,
}

/// Lists the archive and the vault's base backups and reports gaps and the
/// recoverable window. A gap is a segment number that no timeline has
/// between the oldest and the newest archived segment (a timeline switch
/// continues the numbering, so it leaves none).
pub fn verify(vault: &Vault) -> SourceResult<VerifyReport> {
    use std::collections::BTreeMap;
    let (files, undecodable) = wal::list(vault)?;
    let bases: Vec<_> = vault
        .snapshots(&Default::default())?
        .into_iter()
        .filter(|(_, s)| s.source.kind == crate::pg_physical::KIND_BASE)
        .collect();
    let seg_size: u64 = bases
        .iter()
        .find_map(|(_, s)| s.source.details.get("wal_segment_size")?.parse().ok())
        .unwrap_or(16 << 20);
    // Segment number -> the name seen (highest timeline wins).
    let mut by_number: BTreeMap<u64, String> = BTreeMap::new();
    let mut report = VerifyReport {
        undecodable,
        ..Default::default()
    };
    for f in &files {
        match Segment::parse(&f.name) {
            Some(s) => {
                report.segments += 1;
                by_number.insert(s.number(seg_size), f.name.clone());
            }
            None => report.other_files += 1,
        }
    }
    report.oldest_segment = by_number.values().next().cloned();
    report.newest_segment = by_number.values().next_back().cloned();
    let mut prev: Option<(u64, &String)> = None;
    for (n, name) in &by_number {
        if let Some((p, pname)) = prev {
            if *n > p + 1 {
                report.gaps.push(Gap {
                    after: pname.clone(),
                    before: name.clone(),
                    missing: n - p - 1,
                });
            }
        }
        prev = Some((*n, name));
    }
    // The newest segment reachable from `start` without a gap.
    let reach = |start: u64| -> Option<(u64, String)> {
        let mut last: Option<(u64, String)> = None;
        for (n, name) in by_number.range(start..) {
            let next = last.as_ref().map_or(start, |(p, _)| p + 1);
            if *n != next {
                break;
            }
            last = Some((*n, name.clone()));
        }
        last
    };
    for (id, snap) in &bases {
        let d = &snap.source.details;
        let Some(start) = d.get("start_wal_file").and_then(|f| Segment::parse(f)) else {
            continue;
        };
        // The backup history file the server archived when the backup ended.
        let history = match d.get("start_lsn").and_then(|l| parse_lsn(l)) {
            Some(lsn) => format!("{}.{:08X}.backup", start.name(), lsn % seg_size),
            None => String::new(),
        };
        let end = if files.iter().any(|f| f.name == history) {
            wal::get(vault, &history)?.and_then(|b| stop_file(&String::from_utf8_lossy(&b)))
        } else {
            None
        };
        let reached = reach(start.number(seg_size));
        let consistent = match (&reached, end) {
            (Some((r, _)), Some(e)) => *r >= e.number(seg_size),
            // Without its history file the end is unknown: not provably consistent.
            (Some(_), None) => false,
            (None, _) => false,
        };
        report.base_backups.push(BaseBackupWal {
            snapshot: id.to_hex(),
            time: snap.time.clone(),
            start_wal_file: start.name(),
            end_wal_file: end.map(|e| e.name()),
            consistent,
            recoverable_to: reached.map(|(_, n)| n),
        });
    }
    if let Some(b) = report.base_backups.iter().find(|b| b.consistent) {
        let start = Segment::parse(&b.start_wal_file)
            .map(|s| s.number(seg_size))
            .unwrap_or(0);
        report.gaps_in_window = report
            .gaps
            .iter()
            .filter(|g| Segment::parse(&g.before).is_some_and(|s| s.number(seg_size) > start))
            .count();
        if let Some(to) = &b.recoverable_to {
            report.window = Some((b.time.clone(), to.clone()));
        }
    }
    Ok(report)
}

/// The segment of `STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)`
/// in a backup history file.
fn stop_file(text: &str) -> Option<Segment> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("STOP WAL LOCATION: "))?;
    Segment::parse(line.split("(file ").nth(1)?.trim_end_matches(')').trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lsns() {
        let s = Segment::parse("000000010000000A000000FF").unwrap();
        assert_eq!((s.timeline, s.log, s.seg), (1, 10, 255));
        assert_eq!(s.name(), "000000010000000A000000FF");
        assert!(Segment::parse("00000002.history").is_none());
        assert_eq!(parse_lsn("0/2000028"), Some(0x2000028));
        assert_eq!(format_lsn(0x1_0200_0028), "1/2000028");
        let seg = Segment::of_lsn(1, parse_lsn("1/2000028").unwrap(), 16 << 20);
        assert_eq!(seg.name(), "000000010000000100000002");
        assert_eq!(seg.number(16 << 20), 256 + 2);
        let h = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                 STOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n";
        assert_eq!(stop_file(h).unwrap().name(), "000000010000000000000003");
    }
}
