//! PostgreSQL, physical: base backups streamed from `pg_basebackup`, and
//! their restore into a data directory set up for point-in-time recovery
//! from the WAL archived by `coffer wal-push` ([`super::wal`]).
//!
//! A base backup is `pg_basebackup -D - -Ft -X none --checkpoint=fast`: one
//! tar stream on standard output, no WAL in it (it comes from the archive),
//! stored as `base.tar`. pg_basebackup writes only one tar to standard
//! output, so a cluster with tablespaces is backed up into named pipes
//! instead ([`super::tar_pipes`]): the snapshot then holds `base.tar` (with
//! the server's `tablespace_map`) and `tablespaces/OID.tar` for each, and
//! its details list them (`tablespace_map`, in PostgreSQL's format, and
//! `tablespaces`, for people). The start WAL position,
//! file and timeline are read from the `backup_label` entry as the tar
//! streams past ([`LabelSniffer`]); the end position is in the backup history
//! file (`….backup`) the server archives, which `wal-verify` reads. The
//! stream is cut on PostgreSQL's page boundaries ([`super::pages`]), so a
//! later base backup stores only the runs of pages that changed. As for
//! every source, the snapshot is written only after pg_basebackup exited
//! with status 0.
//!
//! A restore unpacks the tar into a new data directory set up for recovery
//! ([`super::recovery`]; its items are re-exported here), and each
//! tablespace's tar into its location, moved by `--tablespace-map OLD=NEW`
//! ([`super::tablespace`]).

use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Stdio;

use coffer_core::{Archiver, BackupSummary, ChunkRef, NodeKind, Snapshot, SourceInfo, Tree};

use super::logical::{Postgres, MAINTENANCE_DB};
use super::pages::PageSplitter;
use super::segment::{format_lsn, parse_lsn, Segment};
use super::tablespace::{parse_map, render_map, Tablespace};
use super::tar_pipes;
use crate::error::{SourceError, SourceResult};
use crate::{process, stream, SourceOutput};

pub use super::recovery::{
    configure_recovery, lookup_user, prepare_pgdata, recovery_settings, restore_command,
    restore_pgdata, restore_pgdata_tars, PgdataOptions, PgdataRestored, RecoveryOptions,
    RecoveryTarget, WalSecret,
};

/// Snapshot kind of a base backup.
pub const KIND_BASE: &str = "postgres-base";
/// The file a base backup is stored as in its snapshot.
pub const BASE_TAR: &str = "base.tar";
/// The directory of a base backup snapshot that holds one `OID.tar` per
/// tablespace (absent for a cluster without tablespaces).
pub const TABLESPACES_DIR: &str = "tablespaces";
/// The detail of a base backup snapshot that lists its tablespaces, as a
/// `tablespace_map` ([`super::tablespace`]).
pub const TABLESPACE_MAP_DETAIL: &str = "tablespace_map";
/// How `base.tar` is cut (the snapshot's `chunking` detail; see [`super::pages`]).
pub const CHUNKING: &str = "page-aligned, 128 KiB";
const _: () = assert!(
    super::pages::CHUNK == 128 << 10,
    "CHUNKING names the chunk size"
);

/// Where the WAL of a base backup starts, from its `backup_label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupLabel {
    /// Start LSN (`START WAL LOCATION`).
    pub start_lsn: u64,
    /// The first WAL file needed (`(file …)`).
    pub start_wal_file: String,
    /// `START TIMELINE`.
    pub timeline: u32,
    /// `CHECKPOINT LOCATION`, if present.
    pub checkpoint_lsn: Option<u64>,
}

/// Parses a `backup_label` file.
pub fn parse_backup_label(text: &str) -> Option<BackupLabel> {
    let mut start = None;
    let mut file = None;
    let mut tli = None;
    let mut ckpt = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
            start = rest.split_whitespace().next().and_then(parse_lsn);
            file = rest
                .split("(file ")
                .nth(1)
                .map(|f| f.trim_end_matches(')').trim().to_string());
        } else if let Some(rest) = line.strip_prefix("START TIMELINE: ") {
            tli = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("CHECKPOINT LOCATION: ") {
            ckpt = parse_lsn(rest);
        }
    }
    let start_wal_file = file?;
    Some(BackupLabel {
        start_lsn: start?,
        timeline: tli.or_else(|| Segment::parse(&start_wal_file).map(|s| s.timeline))?,
        start_wal_file,
        checkpoint_lsn: ckpt,
    })
}

/// Passes a tar stream through unchanged and keeps the content of its
/// `backup_label` entry (pg_basebackup sends it first, so watching stops
/// after the first entries).
pub struct LabelSniffer<R> {
    inner: R,
    pos: u64,
    next_header: u64,
    header: Vec<u8>,
    label: Option<(u64, u64)>,
    /// The `backup_label` bytes seen so far.
    pub captured: Vec<u8>,
    done: bool,
}

impl<R> LabelSniffer<R> {
    /// Watches `inner`.
    pub fn new(inner: R) -> Self {
        LabelSniffer {
            inner,
            pos: 0,
            next_header: 0,
            header: Vec::with_capacity(512),
            label: None,
            captured: Vec::new(),
            done: false,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if self.pos < self.next_header {
                let take = (self.next_header - self.pos).min(data.len() as u64) as usize;
                if let Some((s, e)) = self.label {
                    let a = self.pos.max(s);
                    let b = (self.pos + take as u64).min(e);
                    if a < b {
                        self.captured.extend_from_slice(
                            &data[(a - self.pos) as usize..(b - self.pos) as usize],
                        );
                    }
                    if self.pos + take as u64 >= e {
                        self.done = true;
                    }
                }
                self.pos += take as u64;
                data = &data[take..];
                continue;
            }
            let take = (512 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            self.pos += take as u64;
            data = &data[take..];
            if self.header.len() < 512 {
                continue;
            }
            let h = std::mem::take(&mut self.header);
            if h.iter().all(|b| *b == 0) {
                // End-of-archive block.
                self.next_header = self.pos;
                continue;
            }
            let Some(size) = tar_size(&h[124..136]) else {
                self.done = true;
                continue;
            };
            let name_end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
            let name = &h[..name_end];
            if (name == b"backup_label" || name == b"./backup_label") && matches!(h[156], b'0' | 0)
            {
                self.label = Some((self.pos, self.pos + size));
                if size == 0 {
                    self.done = true;
                }
            }
            self.next_header = self.pos + size.div_ceil(512) * 512;
            // Give up once past the first entries without a label.
            if self.label.is_none() && self.pos > 64 << 20 {
                self.done = true;
            }
        }
    }
}

/// A tar size field: octal, or base-256 when its first bit is set.
fn tar_size(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        let mut v: u64 = (f[0] & 0x7f) as u64;
        for b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(*b as u64)?;
        }
        return Some(v);
    }
    let t: String = f
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(t.trim(), 8).ok()
}

impl<R: Read> Read for LabelSniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.done {
            self.feed(&buf[..n]);
        }
        Ok(n)
    }
}

impl Postgres {
    /// The server's WAL segment size in bytes.
    pub fn wal_segment_size(&self) -> SourceResult<u64> {
        let out = self
            .query(
                MAINTENANCE_DB,
                "select setting from pg_settings where name = 'wal_segment_size'",
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        out.trim()
            .parse()
            .ok()
            .filter(|n: &u64| n.is_power_of_two())
            .ok_or_else(|| SourceError::Protocol {
                target: self.url().host_port(),
                detail: format!("unexpected wal_segment_size {:?}", out.trim()),
            })
    }

    /// The cluster's tablespaces besides `pg_default` and `pg_global`, with
    /// their names, from `pg_tablespace` (names and locations read as hex,
    /// so that no character of theirs can break the parsing).
    pub fn tablespaces(&self) -> SourceResult<Vec<(Tablespace, String)>> {
        let out = self
            .query(
                MAINTENANCE_DB,
                "select oid, encode(convert_to(spcname::text, 'UTF8'), 'hex'), \
                 encode(convert_to(pg_tablespace_location(oid), 'UTF8'), 'hex') \
                 from pg_tablespace where spcname not in ('pg_default', 'pg_global') order by oid",
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        let bad = |line: &str| SourceError::Protocol {
            target: self.url().host_port(),
            detail: format!("unexpected pg_tablespace row {line:?}"),
        };
        let mut v = Vec::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.trim().split('|').collect();
            let [oid, name, loc] = f.as_slice() else {
                return Err(bad(line));
            };
            let (Some(oid), Some(name), Some(loc)) =
                (oid.parse::<u32>().ok(), unhex(name), unhex(loc))
            else {
                return Err(bad(line));
            };
            let name = String::from_utf8_lossy(&name).into_owned();
            let location = std::path::PathBuf::from(std::ffi::OsString::from_vec(loc));
            if !location.is_absolute() {
                return Err(SourceError::Usage(format!(
                    "tablespace {name} ({oid}) of {} is at {}, inside the data directory \
                     (allow_in_place_tablespaces): base backups take tablespaces with a directory \
                     of their own; move it with ALTER TABLE … SET TABLESPACE",
                    self.url().location(None),
                    location.display()
                )));
            }
            v.push((Tablespace { oid, location }, name));
        }
        Ok(v)
    }

    /// Streams a base backup of the whole cluster into the vault as
    /// `base.tar`, and each tablespace as `tablespaces/OID.tar` (see the
    /// module documentation).
    pub fn base_backup(&self, archiver: &Archiver) -> SourceResult<SourceOutput> {
        let (tool, version) =
            self.tool("pg_basebackup", self.server_major(), &self.server_needs())?;
        self.refuse_without_archive_mode()?;
        let seg_size = self.wal_segment_size()?;
        let tablespaces = self.tablespaces()?;
        let what = format!("pg_basebackup of {}", self.url().location(None));
        let (content, label, fallback_at, ts_tars) = if tablespaces.is_empty() {
            let (c, l, f) = self.stream_one_tar(&tool, &what, archiver)?;
            (c, l, f, Vec::new())
        } else {
            let mut names = vec![BASE_TAR.to_string()];
            names.extend(tablespaces.iter().map(|(t, _)| format!("{}.tar", t.oid)));
            let command = |dir: &Path| {
                let mut c = self.command(&tool);
                c.arg("-D")
                    .arg(dir)
                    .args([
                        "-Ft",
                        "-X",
                        "none",
                        "--checkpoint=fast",
                        "--no-sync",
                        "--no-manifest",
                        "--no-password",
                        "-d",
                    ])
                    .arg(self.conninfo(MAINTENANCE_DB));
                c.stdin(Stdio::null()).stdout(Stdio::null());
                c
            };
            let mut saved =
                tar_pipes::stream_tars(command, &what, self.secret(), &names, archiver)?
                    .into_iter();
            let base = saved.next().expect("one saved tar per name");
            (base.content, base.label, base.fallback_at, saved.collect())
        };
        let mut d = self.details(None);
        d.insert("pg_basebackup".into(), version.clone());
        d.insert(
            "format".into(),
            "tar of the data directory (pg_basebackup -Ft -X none); WAL from the archive (coffer wal-push)".into(),
        );
        d.insert("wal_segment_size".into(), seg_size.to_string());
        d.insert("chunking".into(), CHUNKING.into());
        if let Some(at) = fallback_at {
            // A tar header the splitter could not read (it logged a warning):
            // the rest was cut at fixed offsets. The backup is complete.
            d.insert("chunking_fixed_from".into(), at.to_string());
        }
        let label = String::from_utf8_lossy(&label);
        let Some(l) = parse_backup_label(&label) else {
            return Err(SourceError::Protocol {
                target: self.url().host_port(),
                detail: "the base backup's tar holds no readable backup_label: is this a pg_basebackup tar of PostgreSQL 10 or newer?".into(),
            });
        };
        d.insert("start_lsn".into(), format_lsn(l.start_lsn));
        d.insert("timeline".into(), l.timeline.to_string());
        d.insert("start_wal_file".into(), l.start_wal_file.clone());
        if let Some(c) = l.checkpoint_lsn {
            d.insert("checkpoint_lsn".into(), format_lsn(c));
        }
        d.insert(
            "restore_needs".into(),
            format!(
                "PostgreSQL {} server binaries, and the WAL archived from the start WAL file on (coffer wal-fetch)",
                self.short_version()
                    .split('.')
                    .next()
                    .unwrap_or_default()
            ),
        );
        if tablespaces.is_empty() {
            let mut out = stream::one_file(archiver, content, BASE_TAR, KIND_BASE, d)?;
            out.paths = vec![self.url().location(None)];
            return Ok(out);
        }
        let list: Vec<Tablespace> = tablespaces.iter().map(|(t, _)| t.clone()).collect();
        d.insert(TABLESPACE_MAP_DETAIL.into(), render_map(&list));
        d.insert(
            "tablespaces".into(),
            tablespaces
                .iter()
                .map(|(t, name)| format!("{} {name:?} at {}", t.oid, t.location.display()))
                .collect::<Vec<_>>()
                .join("; "),
        );
        let mut ts_nodes = Vec::new();
        for (t, saved) in list.iter().zip(ts_tars) {
            ts_nodes.push(stream::file_node(&format!("{}.tar", t.oid), saved.content));
            if let Some(at) = saved.fallback_at {
                d.insert(format!("chunking_fixed_from_{}", t.oid), at.to_string());
            }
        }
        let mut nodes = vec![stream::file_node(BASE_TAR, content)];
        let total: u64 = nodes.iter().chain(&ts_nodes).map(|n| n.size).sum();
        let files = (1 + ts_nodes.len()) as u64;
        let mut dir = stream::file_node(TABLESPACES_DIR, Vec::new());
        dir.kind = NodeKind::Dir;
        dir.mode = 0o700;
        dir.subtree = Some(archiver.save_tree(&Tree::new(ts_nodes))?);
        nodes.push(dir);
        Ok(SourceOutput {
            tree: archiver.save_tree(&Tree::new(nodes))?,
            paths: vec![self.url().location(None)],
            source: SourceInfo {
                kind: KIND_BASE.into(),
                details: d,
            },
            summary: BackupSummary {
                files_new: files,
                total_bytes: total,
                ..Default::default()
            },
            warnings: Vec::new(),
            parent: None,
        })
    }

    /// `pg_basebackup -D -`: the one tar of a cluster without tablespaces,
    /// with its backup_label and where page splitting fell back.
    fn stream_one_tar(
        &self,
        tool: &Path,
        what: &str,
        archiver: &Archiver,
    ) -> SourceResult<(Vec<ChunkRef>, Vec<u8>, Option<u64>)> {
        let mut c = self.command(tool);
        c.args([
            "-D",
            "-",
            "-Ft",
            "-X",
            "none",
            "--checkpoint=fast",
            "--no-password",
            "-d",
        ])
        .arg(self.conninfo(MAINTENANCE_DB));
        c.stdin(Stdio::null());
        // As process::stdout_to_vault, with the stream watched for backup_label.
        let mut p = process::Proc::spawn(c, what, self.secret(), false, true)?;
        let mut sniff = LabelSniffer::new(p.stdout());
        // Cut on page boundaries, so that a later base backup stores only
        // the 128 KiB runs of pages that changed.
        let mut split = PageSplitter::new(&mut sniff);
        let saved = archiver.save_chunks(&mut split, Path::new(BASE_TAR));
        let fallback_at = split.fallback_at();
        drop(split);
        let label = std::mem::take(&mut sniff.captured);
        match saved {
            Ok(c) => {
                p.finish()?;
                Ok((c, label, fallback_at))
            }
            Err(e) => {
                p.kill();
                Err(e.into())
            }
        }
    }
}

/// Hex digits as bytes.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The tablespaces a base backup snapshot lists (its `tablespace_map`
/// detail, read as hostile, see [`parse_map`]); none for a snapshot of a
/// cluster without them, or from before coffer backed them up.
pub fn snapshot_tablespaces(snap: &Snapshot) -> SourceResult<Vec<Tablespace>> {
    match snap.source.details.get(TABLESPACE_MAP_DETAIL) {
        Some(m) => parse_map(m.as_bytes()),
        None => Ok(Vec::new()),
    }
}

/// The path in a base backup snapshot of tablespace `oid`'s tar.
pub fn tablespace_tar(oid: u32) -> [String; 2] {
    [TABLESPACES_DIR.to_string(), format!("{oid}.tar")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_label_is_found_in_the_tar_stream() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                     CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\n\
                     START TIMELINE: 1\n";
        let mut tar = Vec::new();
        let entry = |tar: &mut Vec<u8>, name: &str, data: &[u8]| {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            let size = format!("{:011o}\0", data.len());
            h[124..136].copy_from_slice(size.as_bytes());
            h[156] = b'0';
            tar.extend_from_slice(&h);
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        };
        entry(&mut tar, "PG_VERSION", b"15\n");
        entry(&mut tar, "backup_label", label.as_bytes());
        entry(&mut tar, "global/pg_control", &[7u8; 9000]);
        tar.extend_from_slice(&[0u8; 1024]);
        // Odd read sizes cross header and data boundaries.
        let mut s = LabelSniffer::new(&tar[..]);
        let mut out = Vec::new();
        let mut buf = [0u8; 37];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, tar);
        assert_eq!(s.captured, label.as_bytes());
        let l = parse_backup_label(label).unwrap();
        assert_eq!(l.start_lsn, 0x2000028);
        assert_eq!(l.start_wal_file, "000000010000000000000002");
        assert_eq!(l.timeline, 1);
        assert_eq!(l.checkpoint_lsn, Some(0x2000060));
    }
}
