//! PostgreSQL, physical, by files: `coffer pg backup --type full|incr|diff`.
//!
//! Where the data directory is readable (on the database host), a base
//! backup is taken with PostgreSQL's low-level backup API instead of
//! `pg_basebackup`: `pg_backup_start` over one connection that stays open
//! ([`session`]), the data directory and each tablespace read in parallel
//! ([`walk`]), and `pg_backup_stop`, whose backup label and tablespace map
//! are stored in the snapshot. The snapshot is written only after the stop
//! answered, and the stop waits (at most [`FilesBackup::archive_timeout`])
//! until the server archived the WAL up to the backup's end; a backup
//! interrupted before that ends the session, which makes the server abort
//! it, and writes nothing.
//!
//! Types: `full` reads every file; `incr` reads only the files whose size or
//! mtime changed since the newest backup by files of the same cluster (same
//! system identifier and data directory), `diff` since the newest `full`.
//! `--checksum` reads every file whatever its metadata. Because the vault
//! deduplicates by content, an incremental snapshot is still a whole tree:
//! its unchanged files point at the chunks their parent stored, so a
//! restore of any type is the same one step, needs no other snapshot, and
//! forgetting a parent never breaks a child. The parent only decides which
//! files are read. No parent (none in the vault, or one that cannot be
//! read) means a full backup, said as a notice and recorded
//! (`backup_type_requested`, `fallback`).
//!
//! Snapshot (`source.kind` `postgres-base`, detail `layout = files`):
//!
//! | path | what |
//! | --- | --- |
//! | `data/…` | the data directory, with `backup_label` (and `tablespace_map`) from `pg_backup_stop` |
//! | `tablespaces/OID/…` | the contents of each tablespace's location |
//!
//! The restore ([`restore`]) writes `data` into the new data directory and
//! each tablespace into its location (or where `--tablespace-map` moves
//! it), then sets up recovery as for every base backup
//! ([`super::recovery`]).

mod parent;
mod restore;
mod session;
mod waits;
mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_core::{Archiver, BackupSummary, Index, Node, NodeKind, SourceInfo, Time, Tree};
use serde::{Deserialize, Serialize};

use super::logical::{Postgres, MAINTENANCE_DB};
use super::physical::{parse_backup_label, KIND_BASE};
use super::segment::{format_lsn, parse_lsn, Segment};
use crate::error::{SourceError, SourceResult};
use crate::{Progress, SourceOutput};

pub use restore::restore_files;
pub use session::APPLICATION_NAME;

/// The `layout` detail of a base backup by files.
pub const LAYOUT_FILES: &str = "files";
/// The snapshot's directory holding the data directory.
pub const DATA: &str = "data";
/// The snapshot's directory holding the tablespaces, one directory an OID.
pub const TABLESPACES: &str = "tablespaces";
/// How long the stop waits for the WAL to be archived, by default (s).
pub const DEFAULT_ARCHIVE_TIMEOUT: u64 = 300;

/// Which files a backup by files reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    /// Every file.
    #[default]
    Full,
    /// The files changed since the newest backup of any type.
    Incr,
    /// The files changed since the newest full backup.
    Diff,
}

impl BackupType {
    /// `full`, `incr` or `diff`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Incr => "incr",
            BackupType::Diff => "diff",
        }
    }

    /// Parses `full`, `incr` or `diff`.
    pub fn parse(s: &str) -> Option<BackupType> {
        match s {
            "full" => Some(BackupType::Full),
            "incr" => Some(BackupType::Incr),
            "diff" => Some(BackupType::Diff),
            _ => None,
        }
    }
}

/// How a base backup by files is taken (the `files` part of a
/// `postgres-base` source).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesBackup {
    /// The data directory (default: the server's `data_directory`).
    #[serde(default)]
    pub pgdata: Option<PathBuf>,
    /// Which files are read.
    #[serde(default, rename = "type")]
    pub backup_type: BackupType,
    /// Read every file whatever its size and mtime.
    #[serde(default)]
    pub checksum: bool,
    /// How long `pg_backup_stop` may wait for the WAL to be archived, and
    /// a standby for its replay, in seconds (default
    /// [`DEFAULT_ARCHIVE_TIMEOUT`]).
    #[serde(default)]
    pub archive_timeout: Option<u64>,
    /// A standby of the cluster to read the files from
    /// (`postgres://…` URL); start and stop run on the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<String>,
}

/// What [`Postgres::check_files_backup`] found.
pub struct FilesCheck {
    facts: Facts,
    pgdata: PathBuf,
    /// What was checked and found, a phrase each.
    pub found: Vec<String>,
}

/// What the server says before a backup.
struct Facts {
    /// The user may run the start and stop functions.
    may_backup: bool,
    archive_mode: String,
    archive_command: String,
    wal_level: String,
    in_recovery: bool,
    system_identifier: String,
    seg_size: u64,
    data_directory: PathBuf,
}

impl Postgres {
    /// The start and stop functions of this server's version, as
    /// `has_function_privilege` names them.
    fn backup_functions(&self) -> (&'static str, &'static str) {
        if self.server_version_num >= 150_000 {
            ("pg_backup_start(text, boolean)", "pg_backup_stop(boolean)")
        } else {
            (
                "pg_start_backup(text, boolean, boolean)",
                "pg_stop_backup(boolean, boolean)",
            )
        }
    }

    fn backup_facts(&self) -> SourceResult<Facts> {
        let (start, stop) = self.backup_functions();
        let out = self
            .query(
                MAINTENANCE_DB,
                &format!(
                    "select (has_function_privilege('{start}', 'execute') \
                     and has_function_privilege('{stop}', 'execute'))::text || '|' \
                     || current_setting('archive_mode') || '|' || current_setting('wal_level') || '|' \
                     || pg_is_in_recovery()::text || '|' || (select system_identifier from pg_control_system())::text \
                     || '|' || (select setting from pg_settings where name = 'wal_segment_size') || '|' \
                     || encode(convert_to(current_setting('archive_command'), 'UTF8'), 'hex') || '|' \
                     || current_setting('data_directory')"
                ),
            )
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        let line = out.trim_end_matches('\n');
        let f: Vec<&str> = line.splitn(8, '|').collect();
        let bad = || SourceError::Protocol {
            target: self.url().host_port(),
            detail: format!("unexpected answer to the backup's settings query: {line:?}"),
        };
        if f.len() != 8 {
            return Err(bad());
        }
        let may_backup = f[0] == "true";
        let f = &f[1..];
        let archive_command = hex_text(f[5]).ok_or_else(bad)?;
        Ok(Facts {
            may_backup,
            archive_mode: f[0].to_string(),
            wal_level: f[1].to_string(),
            in_recovery: f[2] == "true",
            system_identifier: f[3].to_string(),
            seg_size: f[4]
                .parse()
                .ok()
                .filter(|n: &u64| n.is_power_of_two())
                .ok_or_else(bad)?,
            archive_command,
            data_directory: PathBuf::from(f[6]),
        })
    }

    /// Checks what a backup by files of this server needs before it
    /// starts, without starting it: the right to run the start and stop
    /// functions, WAL archiving on (`archive_mode`, a non-empty
    /// `archive_command`, `wal_level` above minimal), a primary here, with
    /// `standby` a standby of the same cluster, and the data directory (the
    /// given `pgdata`, else the server's, or the standby's) readable here
    /// and that cluster's. [`Postgres::backup_files`] runs it first, and
    /// `config check --connect` alone.
    pub fn check_files_backup(
        &self,
        opts: &FilesBackup,
        standby: Option<&Postgres>,
    ) -> SourceResult<FilesCheck> {
        let at = self.url().host_port();
        let facts = self.backup_facts()?;
        if !facts.may_backup {
            let (start, stop) = self.backup_functions();
            return Err(SourceError::Usage(format!(
                "the user of PostgreSQL at {at} may not run {start} and {stop}: connect as a \
                 superuser, or GRANT EXECUTE ON FUNCTION {start}, {stop} TO the user"
            )));
        }
        let standby_facts = match standby {
            Some(sb) => {
                let f = sb.backup_facts()?;
                let sat = sb.url().host_port();
                if !f.in_recovery {
                    return Err(SourceError::Usage(format!(
                        "--standby {sat} is not a standby (it is not in recovery): give a standby of the cluster at {at}"
                    )));
                }
                if f.system_identifier != facts.system_identifier {
                    return Err(SourceError::Usage(format!(
                        "--standby {sat} is not a standby of the cluster at {at}: its system identifier is {}, the primary's {}",
                        f.system_identifier, facts.system_identifier
                    )));
                }
                Some(f)
            }
            None => None,
        };
        if facts.archive_mode == "off" {
            return Err(not_archiving(&at));
        }
        if facts.archive_command.trim().is_empty() {
            return Err(SourceError::Usage(format!(
                "PostgreSQL at {at} has archive_mode = {} but an empty archive_command: no WAL \
                 reaches the vault, so the backup could never be restored; set archive_command = \
                 'coffer --vault … wal-push %p' and reload the server",
                facts.archive_mode
            )));
        }
        if facts.wal_level == "minimal" {
            return Err(SourceError::Usage(format!(
                "PostgreSQL at {at} has wal_level = minimal: set wal_level = replica and restart the server"
            )));
        }
        if facts.in_recovery {
            return Err(SourceError::Usage(format!(
                "PostgreSQL at {at} is a standby (in recovery): give the primary's URL with --postgres"
            )));
        }
        let pgdata = opts.pgdata.clone().unwrap_or_else(|| {
            standby_facts
                .as_ref()
                .unwrap_or(&facts)
                .data_directory
                .clone()
        });
        check_pgdata(&pgdata, &facts.system_identifier, &at)?;
        let mut found = vec![
            format!("PostgreSQL {}", self.short_version()),
            format!("{} allowed", self.backup_functions().0),
            format!("archive_mode = {}", facts.archive_mode),
        ];
        if let Some(sb) = standby {
            found.push(format!("standby {} in recovery", sb.url().host_port()));
        }
        found.push(format!("data directory {} readable", pgdata.display()));
        Ok(FilesCheck {
            facts,
            pgdata,
            found,
        })
    }

    /// Takes a base backup by files (see the module documentation).
    ///
    /// With `standby` (a connection to a standby of this cluster, from
    /// [`FilesBackup::standby`]), the files are the standby's: after
    /// `pg_backup_start` on the primary, the standby is waited for until it
    /// replayed the start checkpoint, and made to write a restartpoint
    /// there (`CHECKPOINT`), so that its files on disk hold everything up
    /// to the backup's start; then they are read, and the stop runs on the
    /// primary.
    pub fn backup_files(
        &self,
        archiver: &Archiver,
        index: &Index,
        opts: &FilesBackup,
        standby: Option<&Postgres>,
        progress: &Progress,
    ) -> SourceResult<SourceOutput> {
        let at = self.url().host_port();
        let FilesCheck { facts, pgdata, .. } = self.check_files_backup(opts, standby)?;
        let pgdata_s = pgdata.to_string_lossy().into_owned();
        let vault = archiver.vault();
        let (done_type, parent, fallback) = choose_parent(
            vault,
            index,
            opts.backup_type,
            &facts.system_identifier,
            &pgdata_s,
        )?;
        if let Some(why) = &fallback {
            progress.notices.say(why);
        }
        let tablespaces = tablespace_dirs(&pgdata)?;
        // What the progress bar counts to: the sizes of every file (an
        // incremental counts the files it keeps as done too).
        let total = walk::data_size(&pgdata)
            + tablespaces
                .iter()
                .map(|(_, p)| walk::apparent_size(p))
                .sum::<u64>();
        crate::add(&progress.total_bytes, total);

        let mut session = Session::open(self)?;
        let label_text = format!("coffer pg backup {}", done_type.as_str());
        let start_sql = if self.server_version_num >= 150_000 {
            format!(
                "select pg_backup_start({}, true)",
                super::quote_literal(&label_text)
            )
        } else {
            format!(
                "select pg_start_backup({}, true, false)",
                super::quote_literal(&label_text)
            )
        };
        let start = session.query(&start_sql, None)?;
        let timeout = Duration::from_secs(opts.archive_timeout.unwrap_or(DEFAULT_ARCHIVE_TIMEOUT));
        if let Some(sb) = standby {
            let start_lsn =
                start
                    .first()
                    .and_then(|l| parse_lsn(l))
                    .ok_or_else(|| SourceError::Protocol {
                        target: at.clone(),
                        detail: format!("unexpected answer to pg_backup_start: {start:?}"),
                    })?;
            wait_for_standby(self, sb, start_lsn, timeout, progress)?;
        }
        let copy_start = next_second();
        let reuse = parent.as_ref().map(|p| walk::Reuse {
            parent_copy_start: p.copy_start,
            checksum: opts.checksum,
        });
        let w = walk::Walk::new(archiver, index, progress, reuse);
        let mut data_nodes = w.data_top(&pgdata, parent.as_ref().and_then(|p| p.data.as_ref()))?;
        let mut ts_nodes = Vec::new();
        for (oid, location) in &tablespaces {
            let pt = parent
                .as_ref()
                .and_then(|p| p.tablespaces.as_ref())
                .and_then(|t| t.get(oid.as_bytes()))
                .and_then(|n| w.load(n.subtree.as_ref()));
            let meta = std::fs::metadata(location).map_err(|e| {
                SourceError::io(format!("tablespace {oid} at {}", location.display()), e)
            })?;
            let mut node = crate::files::node_of(
                &Default::default(),
                location,
                std::ffi::OsStr::new(oid),
                &meta,
                &mut |_| {},
            );
            node.subtree = Some(w.save_dir(location, pt.as_ref())?);
            ts_nodes.push(node);
        }
        // The stop does not wait for archiving itself (the server would
        // look once a second); the WAL up to the end is waited for in the
        // vault below, as pgBackRest's archive check does.
        let stop_sql = if self.server_version_num >= 150_000 {
            "select lsn, encode(convert_to(labelfile, 'UTF8'), 'hex'), \
             encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), 'hex') from pg_backup_stop(false)"
        } else {
            "select lsn, encode(convert_to(labelfile, 'UTF8'), 'hex'), \
             encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), 'hex') from pg_stop_backup(false, false)"
        };
        let answer = session.query(stop_sql, Some(timeout))?;
        drop(session);
        let (stop_lsn, label, map) = parse_stop(answer.first().map(String::as_str).unwrap_or(""))
            .ok_or_else(|| SourceError::Protocol {
            target: at.clone(),
            detail: format!("unexpected answer to pg_backup_stop: {answer:?}"),
        })?;
        let l = parse_backup_label(&label).ok_or_else(|| SourceError::Protocol {
            target: at.clone(),
            detail: "pg_backup_stop returned no readable backup label".into(),
        })?;
        let stop_wal_file =
            Segment::of_lsn(l.timeline, stop_lsn.saturating_sub(1), facts.seg_size).name();
        let history = format!(
            "{}.{:08X}.backup",
            l.start_wal_file,
            l.start_lsn % facts.seg_size
        );
        wait_archived(vault, &[&stop_wal_file, &history], timeout, progress).map_err(
            |e| match e {
                SourceError::Mismatch(what) => SourceError::Mismatch(format!(
                    "PostgreSQL at {at} did not archive {what} into the vault within {} s: \
                     check archive_command (the server log names its failures) and \
                     `coffer pg wal-verify`; no snapshot was written",
                    timeout.as_secs()
                )),
                e => e,
            },
        )?;

        let root_meta = std::fs::metadata(&pgdata)
            .map_err(|e| SourceError::io(pgdata.display().to_string(), e))?;
        let like = crate::files::node_of(
            &Default::default(),
            &pgdata,
            std::ffi::OsStr::new(DATA),
            &root_meta,
            &mut |_| {},
        );
        data_nodes.push(small_file(
            archiver,
            &like,
            "backup_label",
            label.as_bytes(),
        )?);
        if !map.is_empty() {
            data_nodes.push(small_file(
                archiver,
                &like,
                "tablespace_map",
                map.as_bytes(),
            )?);
        }
        let mut data = like.clone();
        data.subtree = Some(archiver.save_tree(&Tree::new(data_nodes))?);
        let mut top = vec![data];
        if !ts_nodes.is_empty() {
            let mut t = Node::new(TABLESPACES.as_bytes().to_vec(), NodeKind::Dir);
            t.mode = 0o700;
            t.uid = like.uid;
            t.gid = like.gid;
            t.mtime = like.mtime;
            t.subtree = Some(archiver.save_tree(&Tree::new(ts_nodes))?);
            top.push(t);
        }
        let tree = archiver.save_tree(&Tree::new(top))?;

        let c = &w.counts;
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let mut d = self.details(None);
        d.insert("layout".into(), LAYOUT_FILES.into());
        d.insert(
            "format".into(),
            "the data directory read between pg_backup_start and pg_backup_stop; WAL from the archive (coffer wal-push)".into(),
        );
        d.insert("backup_type".into(), done_type.as_str().into());
        if done_type != opts.backup_type {
            d.insert(
                "backup_type_requested".into(),
                opts.backup_type.as_str().into(),
            );
        }
        if let Some(f) = fallback {
            d.insert("fallback".into(), f);
        }
        if opts.checksum {
            d.insert("checksum".into(), "true".into());
        }
        if let Some(sb) = standby {
            d.insert("standby".into(), sb.url().host_port());
        }
        d.insert("system_identifier".into(), facts.system_identifier.clone());
        d.insert("pgdata".into(), pgdata_s.clone());
        d.insert("copy_start".into(), copy_start.to_string());
        d.insert("wal_segment_size".into(), facts.seg_size.to_string());
        d.insert("chunking".into(), super::physical::CHUNKING.into());
        d.insert("start_lsn".into(), format_lsn(l.start_lsn));
        d.insert("timeline".into(), l.timeline.to_string());
        d.insert("start_wal_file".into(), l.start_wal_file.clone());
        if let Some(ck) = l.checkpoint_lsn {
            d.insert("checkpoint_lsn".into(), format_lsn(ck));
        }
        d.insert("stop_lsn".into(), format_lsn(stop_lsn));
        d.insert("stop_wal_file".into(), stop_wal_file);
        if !map.is_empty() {
            // As a streamed base backup records it: restore tests and
            // front ends read the tablespaces from here.
            d.insert(super::physical::TABLESPACE_MAP_DETAIL.into(), map.clone());
        }
        d.insert(
            "files_read_again_recent".into(),
            ld(&c.files_recent).to_string(),
        );
        d.insert("files_vanished".into(), ld(&c.vanished).to_string());
        d.insert(
            "restore_needs".into(),
            format!(
                "PostgreSQL {} server binaries, and the WAL archived from the start WAL file on (coffer wal-fetch)",
                self.short_version().split('.').next().unwrap_or_default()
            ),
        );
        Ok(SourceOutput {
            tree,
            paths: vec![self.url().location(None)],
            source: SourceInfo {
                kind: KIND_BASE.into(),
                details: d,
            },
            summary: BackupSummary {
                files_new: ld(&c.files_new),
                files_changed: ld(&c.files_changed),
                files_unmodified: ld(&c.files_unmodified),
                dirs: ld(&c.dirs),
                others: ld(&c.others),
                total_bytes: ld(&c.total_bytes),
                ..Default::default()
            },
            warnings: Vec::new(),
            parent: parent.map(|p| p.id),
        })
    }
}

use parent::choose_parent;
use session::Session;
use waits::{next_second, wait_archived, wait_for_standby};

/// The error for a server that does not archive its WAL.
fn not_archiving(at: &str) -> SourceError {
    SourceError::Usage(format!(
        "PostgreSQL at {at} is not in archive mode (archive_mode = off): a base backup is \
         recoverable only with the WAL from its start to its end archived; set \
         archive_mode = on and archive_command = 'coffer --vault … wal-push %p' and restart \
         the server, then back up again"
    ))
}

impl Postgres {
    /// Refuses a server whose `archive_mode` is off (any user may read it):
    /// no base backup of it could be restored.
    pub(crate) fn refuse_without_archive_mode(&self) -> SourceResult<()> {
        let mode = self
            .query(MAINTENANCE_DB, "select current_setting('archive_mode')")
            .map_err(|e| self.connect_error(MAINTENANCE_DB, e))?;
        if mode.trim() == "off" {
            return Err(not_archiving(&self.url().host_port()));
        }
        Ok(())
    }
}

/// Text sent hex-encoded (so that no byte of it can break the line protocol).
fn hex_text(h: &str) -> Option<String> {
    let h = h.trim();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `LSN|hex(label)|hex(map)` from pg_backup_stop.
fn parse_stop(line: &str) -> Option<(u64, String, String)> {
    let mut f = line.trim().split('|');
    let lsn = parse_lsn(f.next()?)?;
    let label = hex_text(f.next()?)?;
    let map = hex_text(f.next()?)?;
    f.next().is_none().then_some((lsn, label, map))
}

/// Checks that `pgdata` is the data directory of the server whose system
/// identifier is `sysid` (its `global/pg_control` starts with it).
fn check_pgdata(pgdata: &Path, sysid: &str, at: &str) -> SourceResult<()> {
    let control = pgdata.join("global/pg_control");
    let mut buf = [0u8; 8];
    let read = std::fs::File::open(&control).and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut buf)
    });
    if let Err(e) = read {
        return Err(SourceError::Usage(format!(
            "cannot read {} ({e}): a backup by files runs where the data directory is readable; give it with \
             --pgdata DIR, or use `coffer pg basebackup` from another host",
            control.display()
        )));
    }
    let found = u64::from_ne_bytes(buf).to_string();
    if found != sysid {
        return Err(SourceError::Usage(format!(
            "{} is not the data directory of the server at {at}: its pg_control has system identifier \
             {found}, the server {sysid}; give the server's data directory with --pgdata",
            pgdata.display()
        )));
    }
    Ok(())
}

/// The tablespaces of a data directory: each link in `pg_tblspc`, by OID.
fn tablespace_dirs(pgdata: &Path) -> SourceResult<Vec<(String, PathBuf)>> {
    let dir = pgdata.join("pg_tblspc");
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(SourceError::io(format!("reading {}", dir.display()), e)),
    };
    for e in rd {
        let e = e.map_err(|e| SourceError::io(format!("reading {}", dir.display()), e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let target = std::fs::read_link(e.path()).map_err(|err| {
            SourceError::io(format!("reading the link {}", e.path().display()), err)
        })?;
        let target = if target.is_absolute() {
            target
        } else {
            dir.join(target)
        };
        out.push((name, target));
    }
    out.sort();
    Ok(out)
}

/// A small file of the data directory's top, owned as `like`.
fn small_file(archiver: &Archiver, like: &Node, name: &str, data: &[u8]) -> SourceResult<Node> {
    let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    n.mode = 0o600;
    n.uid = like.uid;
    n.gid = like.gid;
    n.user = like.user.clone();
    n.group = like.group.clone();
    let now = jiff::Timestamp::now();
    n.mtime = Time {
        secs: now.as_second(),
        nanos: now.subsec_nanosecond().max(0) as u32,
    };
    n.size = data.len() as u64;
    n.content = archiver.save_bytes(data, Path::new(name))?;
    Ok(n)
}

/// Whether a base backup's details say it was taken by files.
pub fn is_files_layout(details: &BTreeMap<String, String>) -> bool {
    details.get("layout").map(String::as_str) == Some(LAYOUT_FILES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_answers_parse() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
        let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
        let (lsn, l, m) = parse_stop(&format!("0/2000100|{hex}|")).unwrap();
        assert_eq!(lsn, 0x2000100);
        assert_eq!(l, label);
        assert_eq!(m, "");
        assert!(parse_stop("0/1|zz|").is_none());
        assert!(parse_stop("0/1|00|00|extra").is_none());
        assert_eq!(hex_text("6869"), Some("hi".into()));
        assert_eq!(hex_text("686"), None);
    }

    #[test]
    fn types() {
        for t in [BackupType::Full, BackupType::Incr, BackupType::Diff] {
            assert_eq!(BackupType::parse(t.as_str()), Some(t));
        }
        assert_eq!(BackupType::parse("delta"), None);
    }
}
