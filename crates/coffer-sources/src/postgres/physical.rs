//! PostgreSQL, physical: base backups streamed from `pg_basebackup`, and
//! their restore into a data directory set up for point-in-time recovery
//! from the WAL archived by `coffer wal-push` ([`super::wal`]).
//!
//! A base backup is `pg_basebackup -D - -Ft -X none --checkpoint=fast`: one
//! tar stream on standard output (so clusters with extra tablespaces are not
//! supported yet: pg_basebackup refuses to write several tars to standard
//! output), no WAL in it (it comes from the archive). The start WAL position,
//! file and timeline are read from the `backup_label` entry as the tar
//! streams past ([`LabelSniffer`]); the end position is in the backup history
//! file (`….backup`) the server archives, which `wal-verify` reads. The
//! stream is cut on PostgreSQL's page boundaries ([`super::pages`]), so a
//! later base backup stores only the runs of pages that changed. As for
//! every source, the snapshot is written only after pg_basebackup exited
//! with status 0.
//!
//! A restore unpacks the tar into an empty or missing directory (mode 0700),
//! writes `recovery.signal` and appends the recovery settings to
//! `postgresql.auto.conf`: a `restore_command` that runs `coffer wal-fetch`
//! with the vault and a key or password *file* (never a password), the
//! recovery target, and `recovery_target_action = 'promote'`. When coffer
//! runs as root, the files are given to the owner of the directory's parent,
//! or to the user named by the caller; PostgreSQL refuses a data directory
//! its server user does not own.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coffer_core::Archiver;

use super::logical::{Postgres, MAINTENANCE_DB};
use super::pages::PageSplitter;
use super::segment::{format_lsn, parse_lsn, Segment};
use crate::error::{SourceError, SourceResult};
use crate::{process, stream, SourceOutput};

/// Snapshot kind of a base backup.
pub const KIND_BASE: &str = "postgres-base";
/// The file a base backup is stored as in its snapshot.
pub const BASE_TAR: &str = "base.tar";
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

    /// Streams a base backup of the whole cluster into the vault as
    /// `base.tar` (see the module documentation).
    pub fn base_backup(&self, archiver: &Archiver) -> SourceResult<SourceOutput> {
        let (tool, version) =
            self.tool("pg_basebackup", self.server_major(), &self.server_needs())?;
        let seg_size = self.wal_segment_size()?;
        let mut c = self.command(&tool);
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
        let what = format!("pg_basebackup of {}", self.url().location(None));
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
        let content = match saved {
            Ok(c) => {
                p.finish()?;
                c
            }
            Err(e) => {
                p.kill();
                return Err(e.into());
            }
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
        let mut out = stream::one_file(archiver, content, BASE_TAR, KIND_BASE, d)?;
        out.paths = vec![self.url().location(None)];
        Ok(out)
    }
}

/// Where recovery stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryTarget {
    /// Replay all archived WAL (no target).
    Latest,
    /// As soon as the base backup is consistent (`recovery_target = 'immediate'`).
    Immediate,
    /// A time (`recovery_target_time`), as PostgreSQL parses a timestamptz.
    Time(String),
    /// An LSN (`recovery_target_lsn`).
    Lsn(String),
    /// A transaction id (`recovery_target_xid`).
    Xid(String),
    /// A restore point made with `pg_create_restore_point` (`recovery_target_name`).
    Name(String),
}

/// How the server reads the vault during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalSecret {
    /// `--key-file PATH` (absolute).
    KeyFile(PathBuf),
    /// `--password-file PATH` (absolute).
    PasswordFile(PathBuf),
}

/// What the recovery configuration says.
#[derive(Debug, Clone)]
pub struct RecoveryOptions {
    /// The coffer executable the server runs (absolute).
    pub coffer: PathBuf,
    /// The vault location (absolute path or URL).
    pub vault: String,
    /// The secret file.
    pub secret: WalSecret,
    /// Where to stop.
    pub target: RecoveryTarget,
    /// Stop just after the target (true, PostgreSQL's default) or just before it.
    pub inclusive: bool,
    /// Keep the restored cluster's `archive_mode` (true) or turn archiving
    /// off (false). A restored server that archives into the vault it was
    /// restored from adds a new timeline to that archive once it promotes:
    /// later restores that follow the latest timeline go down that branch,
    /// and the original cluster's own next timeline history file then
    /// collides with it. So archiving stays on only when asked for, for a
    /// restore that replaces the original cluster.
    pub archive: bool,
}

/// Options of [`restore_pgdata`].
#[derive(Debug, Clone)]
pub struct PgdataOptions {
    /// The data directory (empty or missing).
    pub dir: PathBuf,
    /// The recovery configuration.
    pub recovery: RecoveryOptions,
    /// When running as root: the owner (uid, gid) to give the files;
    /// `None`: the owner of the directory's parent.
    pub owner: Option<(u32, u32)>,
    /// A line recorded in the configuration (which snapshot this is).
    pub comment: String,
}

/// What [`restore_pgdata`] did.
#[derive(Debug, Clone)]
pub struct PgdataRestored {
    /// Bytes of tar unpacked.
    pub bytes: u64,
    /// The lines appended to `postgresql.auto.conf`.
    pub settings: Vec<String>,
    /// The owner given to the files, when running as root.
    pub owner: Option<(u32, u32)>,
}

/// A string as a single-quoted value in postgresql.conf.
fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A word for `/bin/sh`, with `%` doubled (PostgreSQL expands `%f`, `%p`
/// and `%%` in restore_command).
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./,:=@+".contains(&b));
    let w = if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    };
    w.replace('%', "%%")
}

/// The `restore_command` that fetches WAL with coffer.
pub fn restore_command(o: &RecoveryOptions) -> SourceResult<String> {
    let (flag, file) = match &o.secret {
        WalSecret::KeyFile(p) => ("--key-file", p),
        WalSecret::PasswordFile(p) => ("--password-file", p),
    };
    for p in [&o.coffer, file] {
        if !p.is_absolute() {
            return Err(SourceError::Usage(format!(
                "{} is not an absolute path: the server runs restore_command in its own directory",
                p.display()
            )));
        }
    }
    let words = [
        shell_word(&o.coffer.to_string_lossy()),
        "--vault".into(),
        shell_word(&o.vault),
        flag.into(),
        shell_word(&file.to_string_lossy()),
        "--quiet".into(),
        "wal-fetch".into(),
    ];
    Ok(format!("{} %f %p", words.join(" ")))
}

/// The recovery settings, one `name = 'value'` line each.
pub fn recovery_settings(o: &RecoveryOptions) -> SourceResult<Vec<String>> {
    let mut v = vec![format!(
        "restore_command = {}",
        conf_quote(&restore_command(o)?)
    )];
    let set = |k: &str, val: &str| format!("{k} = {}", conf_quote(val));
    let nonempty = |what: &str, s: &str| {
        if s.trim().is_empty() {
            Err(SourceError::Usage(format!("{what} is empty")))
        } else {
            Ok(())
        }
    };
    match &o.target {
        RecoveryTarget::Latest => {}
        RecoveryTarget::Immediate => v.push(set("recovery_target", "immediate")),
        RecoveryTarget::Time(t) => {
            nonempty("--target-time", t)?;
            v.push(set("recovery_target_time", t));
        }
        RecoveryTarget::Lsn(l) => {
            if parse_lsn(l).is_none() {
                return Err(SourceError::Usage(format!(
                    "--target-lsn {l}: give an LSN as PostgreSQL writes it, e.g. 0/3000060"
                )));
            }
            v.push(set("recovery_target_lsn", l));
        }
        RecoveryTarget::Xid(x) => {
            if x.trim().parse::<u64>().is_err() {
                return Err(SourceError::Usage(format!(
                    "--target-xid {x}: give a transaction id (a number, as txid_current() returns)"
                )));
            }
            v.push(set("recovery_target_xid", x.trim()));
        }
        RecoveryTarget::Name(n) => {
            nonempty("--target-name", n)?;
            v.push(set("recovery_target_name", n));
        }
    }
    if matches!(
        o.target,
        RecoveryTarget::Time(_) | RecoveryTarget::Lsn(_) | RecoveryTarget::Xid(_)
    ) {
        v.push(set(
            "recovery_target_inclusive",
            if o.inclusive { "on" } else { "off" },
        ));
    }
    if o.target != RecoveryTarget::Latest {
        v.push(set("recovery_target_action", "promote"));
    }
    if !o.archive {
        v.push(set("archive_mode", "off"));
    }
    Ok(v)
}

/// The uid and primary gid of user `name` (for `--pgdata-owner`).
pub fn lookup_user(name: &str) -> SourceResult<(u32, u32)> {
    let u = uzers::get_user_by_name(name).ok_or_else(|| {
        SourceError::Usage(format!(
            "--pgdata-owner {name}: no such user on this machine (give the user the server runs as, e.g. postgres)"
        ))
    })?;
    Ok((u.uid(), u.primary_group_id()))
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> SourceResult<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| SourceError::io(format!("changing the owner of {}", path.display()), e))?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| SourceError::io(path.display().to_string(), e))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(path)
            .map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?
        {
            let e = e.map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?;
            chown_tree(&e.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Unpacks a base backup (the tar read from `reader`) into a new data
/// directory set up for point-in-time recovery (see the module
/// documentation).
pub fn restore_pgdata<R: Read>(reader: R, opts: &PgdataOptions) -> SourceResult<PgdataRestored> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = &opts.dir;
    let settings = recovery_settings(&opts.recovery)?;
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(SourceError::Usage(format!(
                    "--pgdata {} is not empty: give an empty or missing directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(|e| {
                SourceError::io(
                    format!("creating {} (does its parent exist?)", dir.display()),
                    e,
                )
            })?;
        }
        Err(e) => return Err(SourceError::io(format!("--pgdata {}", dir.display()), e)),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SourceError::io(format!("chmod 0700 {}", dir.display()), e))?;
    let owner = if is_root() {
        match opts.owner {
            Some(o) => Some(o),
            None => {
                let parent = std::fs::canonicalize(dir)
                    .ok()
                    .and_then(|d| d.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| PathBuf::from("/"));
                let m = std::fs::metadata(&parent)
                    .map_err(|e| SourceError::io(parent.display().to_string(), e))?;
                Some((m.uid(), m.gid()))
            }
        }
    } else {
        None
    };
    let mut tar = Command::new("tar");
    tar.args(["--extract", "--file=-", "--no-same-owner", "--directory"])
        .arg(dir)
        .stdout(Stdio::null());
    let (bytes, _) = process::stdin_from(
        tar,
        reader,
        format!("tar --extract into {}", dir.display()),
        None,
    )?;
    if !dir.join("backup_label").exists() {
        return Err(SourceError::Mismatch(format!(
            "{} holds no backup_label after unpacking: the snapshot is not a pg_basebackup base backup",
            dir.display()
        )));
    }
    let signal = dir.join("recovery.signal");
    std::fs::write(&signal, b"")
        .map_err(|e| SourceError::io(format!("writing {}", signal.display()), e))?;
    let conf = dir.join("postgresql.auto.conf");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&conf)
        .map_err(|e| SourceError::io(format!("opening {}", conf.display()), e))?;
    let mut text = format!("\n# {}\n", opts.comment.replace('\n', " "));
    for s in &settings {
        text.push_str(s);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| SourceError::io(format!("writing {}", conf.display()), e))?;
    if let Some((uid, gid)) = owner {
        chown_tree(dir, uid, gid)?;
    }
    Ok(PgdataRestored {
        bytes,
        settings,
        owner,
    })
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

    #[test]
    fn settings_quote_and_refuse() {
        let o = RecoveryOptions {
            coffer: "/usr/bin/coffer".into(),
            vault: "/srv/it's a vault%".into(),
            secret: WalSecret::KeyFile("/etc/coffer/k".into()),
            target: RecoveryTarget::Time("2026-01-01 10:00:00+00".into()),
            inclusive: false,
            archive: true,
        };
        let s = recovery_settings(&o).unwrap();
        assert_eq!(
            s[0],
            r"restore_command = '/usr/bin/coffer --vault ''/srv/it''\\''''s a vault%%'' --key-file /etc/coffer/k --quiet wal-fetch %f %p'"
        );
        assert_eq!(s[1], "recovery_target_time = '2026-01-01 10:00:00+00'");
        assert_eq!(s[2], "recovery_target_inclusive = 'off'");
        assert_eq!(s[3], "recovery_target_action = 'promote'");
        let mut bad = o.clone();
        bad.secret = WalSecret::PasswordFile("rel/pw".into());
        assert!(recovery_settings(&bad).is_err());
        bad = o.clone();
        bad.target = RecoveryTarget::Lsn("zz".into());
        assert!(recovery_settings(&bad).is_err());
        bad.target = RecoveryTarget::Immediate;
        assert_eq!(
            recovery_settings(&bad).unwrap()[1],
            "recovery_target = 'immediate'"
        );
    }
}
